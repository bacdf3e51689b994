/*
 * The CONFIG_ values that ESP-IDF v6.0's headers need when `npm run check:native` compiles the
 * project's C files for the ESP32-S3 (syntax only; see scripts/check-native.ts). It is not a build
 * configuration: mcconfig's build generates the real sdkconfig.h from ESP-IDF's Kconfig and
 * Moddable's build/devices/esp32/xsProj-esp32s3/sdkconfig.defaults.
 *
 * Each value is the one of a default Moddable build for esp32/esp32s3: Moddable's sdkconfig.defaults
 * where it sets it (CONFIG_FREERTOS_HZ), ESP-IDF's Kconfig default for the target otherwise. Options
 * that are off there stay undefined here, as in a generated sdkconfig.h; among them those the
 * checked code depends on: CONFIG_RMT_RX_ISR_CACHE_SAFE, CONFIG_RMT_RECV_FUNC_IN_IRAM,
 * CONFIG_GPIO_CTRL_FUNC_IN_IRAM, CONFIG_FREERTOS_UNICORE, CONFIG_FREERTOS_SMP,
 * CONFIG_ESP_SYSTEM_SINGLE_CORE_MODE and CONFIG_ESP_ERR_TO_NAME_LOOKUP (Moddable turns it off).
 */

#pragma once

/* The target (Kconfig: IDF_TARGET="esp32s3" selects IDF_TARGET_ARCH_XTENSA). */
#define CONFIG_IDF_TARGET "esp32s3"
#define CONFIG_IDF_TARGET_ESP32S3 1
#define CONFIG_IDF_TARGET_ARCH_XTENSA 1

/* FreeRTOS: FreeRTOS.h refuses to compile without these. Two cores (FREERTOS_UNICORE is n on the
   ESP32-S3), Kconfig's defaults for the name length and notification entries, Moddable's tick. */
#define CONFIG_FREERTOS_NUMBER_OF_CORES 2
#define CONFIG_FREERTOS_MAX_TASK_NAME_LEN 16
#define CONFIG_FREERTOS_TASK_NOTIFICATION_ARRAY_ENTRIES 1
#define CONFIG_FREERTOS_HZ 1000

/** Firmware name and version, reported at boot, in telemetry and in status. Keep in step with package.json. */
export const FIRMWARE_NAME = "esp32-sensor";
export const FIRMWARE_VERSION = "0.1.0";

/*
 * The app rollback state of ESP-IDF's bootloader (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE), as XS
 * host functions: the SDK's embedded:update writes and activates an image but has no call to
 * confirm it or to give it up. See otastate.js for the JavaScript side.
 */

#include "xsmc.h"
#include "xsHost.h"
#include "esp_err.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"

void xs_otastate_running_slot(xsMachine *the)
{
	const esp_partition_t *partition = esp_ota_get_running_partition();
	if (partition)
		xsmcSetString(xsResult, (char *)partition->label);
}

void xs_otastate_pending_verify(xsMachine *the)
{
	esp_ota_img_states_t state;
	const esp_partition_t *partition = esp_ota_get_running_partition();
	uint8_t pending = partition && (ESP_OK == esp_ota_get_state_partition(partition, &state)) && (ESP_OTA_IMG_PENDING_VERIFY == state);
	xsmcSetBoolean(xsResult, pending);
}

void xs_otastate_mark_valid(xsMachine *the)
{
	esp_err_t err = esp_ota_mark_app_valid_cancel_rollback();
	if (ESP_OK != err)
		xsUnknownError("ota: mark valid failed (%s)", esp_err_to_name(err));
}

void xs_otastate_rollback(xsMachine *the)
{
	/* Reboots on success; returns only when no other valid image exists. */
	esp_err_t err = esp_ota_mark_app_invalid_rollback_and_reboot();
	xsUnknownError("ota: rollback failed (%s)", esp_err_to_name(err));
}

void xs_otastate_update_capacity(xsMachine *the)
{
	const esp_partition_t *partition = esp_ota_get_next_update_partition(NULL);
	xsmcSetInteger(xsResult, partition ? (xsIntegerValue)partition->size : 0);
}

void xs_otastate_last_invalid(xsMachine *the)
{
	const esp_partition_t *partition = esp_ota_get_last_invalid_partition();
	if (partition)
		xsmcSetString(xsResult, (char *)partition->label);
}

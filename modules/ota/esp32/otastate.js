/*
 * The app rollback state of ESP-IDF's bootloader, which the SDK's embedded:update does not expose
 * (otastate.c). Typed by otastate.d.ts.
 *
 *	runningSlot()		// "ota_0": the label of the partition running
 *	pendingVerify()		// true on the first boot of a new image not yet marked valid
 *	markValid()		// esp_ota_mark_app_valid_cancel_rollback(); throws naming the esp_err_t
 *	rollback()		// esp_ota_mark_app_invalid_rollback_and_reboot(); returns only by throwing
 *	updateCapacity()	// bytes of the next update partition, 0 when there is none
 *	lastInvalidSlot()	// label of the partition last rolled back, or undefined
 */

function runningSlot() @ "xs_otastate_running_slot";
function pendingVerify() @ "xs_otastate_pending_verify";
function markValid() @ "xs_otastate_mark_valid";
function rollback() @ "xs_otastate_rollback";
function updateCapacity() @ "xs_otastate_update_capacity";
function lastInvalidSlot() @ "xs_otastate_last_invalid";

export { runningSlot, pendingVerify, markValid, rollback, updateCapacity, lastInvalidSlot };

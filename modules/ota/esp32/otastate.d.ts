/*
 * Types of the native rollback state (otastate.js, otastate.c), module "ota/esp32/otastate".
 */

/** Label of the running app partition ("ota_0", "ota_1", "factory"), or undefined. */
export function runningSlot(): string | undefined;
/** True on the first boot of a new image that has not been marked valid (ESP_OTA_IMG_PENDING_VERIFY). */
export function pendingVerify(): boolean;
/** Confirms the running image; throws an Error naming the esp_err_t. */
export function markValid(): void;
/** Marks the running image invalid and reboots into the previous one; returns only by throwing. */
export function rollback(): never;
/** Size in bytes of the partition the next update goes to; 0 when the table has no OTA slot. */
export function updateCapacity(): number;
/** Label of the partition last rolled back (esp_ota_get_last_invalid_partition), or undefined. */
export function lastInvalidSlot(): string | undefined;

/*
 * Firmware update ports on the ESP32:
 *
 * - FirmwareWriter over the SDK's embedded:update on the "nextota" partition (esp_ota_begin with
 *   the image size, esp_ota_write for each fragment, esp_ota_end + esp_ota_set_boot_partition on
 *   finish, esp_ota_abort on abort). esp_ota_end checks the image header and its own checksum; the
 *   updater has already checked the SHA-256 against the signed manifest.
 * - BootControl over the native ota/esp32/otastate (modules/ota): the bootloader's rollback state,
 *   which the SDK does not expose. The build must enable CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE and
 *   have two OTA slots (platforms/esp32s3/sdkconfig/).
 * - OtaCrypto: src/adapters/ota-crypto.ts.
 */

import flash from "embedded:storage/flash";
import Update from "embedded:update";
import { lastInvalidSlot, markValid, pendingVerify, rollback, runningSlot, updateCapacity } from "ota/esp32/otastate";
import type { BootControl, FirmwareWriter, OtaPorts, TransportFactory } from "../../ports";
import { moddableOtaCrypto } from "../ota-crypto";
import { FIRMWARE_VERSION } from "../../version";

/** The SDK's typings and src/moddable.d.ts name the writer differently: take it from open(). */
type UpdateWriter = ReturnType<typeof Update.open>;

export class Esp32FirmwareWriter implements FirmwareWriter {
	#update: UpdateWriter | undefined;

	get capacity(): number {
		return updateCapacity();
	}

	begin(size: number): void {
		this.abort();
		if (this.capacity === 0) throw new Error("the partition table has no OTA slot (see platforms/esp32s3/sdkconfig/partitions.csv)");
		this.#update = Update.open({ partition: flash.open({ path: "nextota" }), byteLength: size });
	}

	write(bytes: Uint8Array): void {
		if (!this.#update) throw new Error("write before begin");
		this.#update.write(bytes);
	}

	finish(): void {
		const update = this.#update;
		if (!update) throw new Error("finish before begin");
		this.#update = undefined;
		try {
			update.complete();
		}
		finally {
			update.close();
		}
	}

	abort(): void {
		const update = this.#update;
		this.#update = undefined;
		try {
			update?.close();
		}
		catch {
			// Already closed.
		}
	}
}

export const esp32BootControl: BootControl = Object.freeze({
	running: () => ({ version: FIRMWARE_VERSION, slot: runningSlot() ?? "unknown" }),
	pendingVerify: () => pendingVerify(),
	markValid: () => markValid(),
	rollback: (reason: string) => {
		trace(`<error>OTA: rolling back (${reason}); last invalid slot before: ${lastInvalidSlot() ?? "none"}\n`);
		rollback();
	},
});

/** The update ports of an ESP32 board; downloads go through the board's TCP/TLS port. */
export function esp32Ota(tcp: TransportFactory): OtaPorts {
	return { writer: new Esp32FirmwareWriter(), boot: esp32BootControl, crypto: moddableOtaCrypto, http: tcp };
}

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
 * - OtaCrypto over crypt: Digest("SHA256") streamed, ECDSA P-256 verification (r || s) with the
 *   SDK's ecdsa/curve/ecp, after checking that r and s are in [1, n-1].
 */

import { Digest } from "crypt";
import Curve from "curve";
import ECDSA from "ecdsa";
import ECPoint from "ecp";
import flash from "embedded:storage/flash";
import Update from "embedded:update";
import { lastInvalidSlot, markValid, pendingVerify, rollback, runningSlot, updateCapacity } from "ota/esp32/otastate";
import type { BootControl, FirmwareWriter, OtaCrypto, OtaPorts, TransportFactory } from "../../ports";
import { FIRMWARE_VERSION } from "../../version";

function exactBuffer(bytes: Uint8Array): ArrayBuffer {
	if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
	return bytes.slice().buffer as ArrayBuffer;
}

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

/** P-256 group order, big-endian. */
const ORDER = Object.freeze([0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51]);

/** 1 <= value < n for a 32-byte big-endian integer. */
function inOrder(value: Uint8Array): boolean {
	if (value.every((b) => b === 0)) return false;
	for (let i = 0; i < 32; i++) if (value[i] !== ORDER[i]) return value[i] < ORDER[i];
	return false;
}

export const moddableOtaCrypto: OtaCrypto = Object.freeze({
	sha256() {
		const digest = new Digest("SHA256");
		return {
			update: (bytes: Uint8Array) => digest.write(exactBuffer(bytes)),
			finish: () => new Uint8Array(digest.close()),
		};
	},
	verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
		if (publicKey.length !== 65 || publicKey[0] !== 4 || signature.length !== 64) return false;
		if (!inOrder(signature.subarray(0, 32)) || !inOrder(signature.subarray(32))) return false;
		try {
			const digest = new Digest("SHA256");
			digest.write(exactBuffer(message));
			const ecdsa = new ECDSA(ECPoint.fromOctetString(exactBuffer(publicKey)), new Curve("secp256r1"), false);
			return ecdsa.verify(digest.close(), exactBuffer(signature), false);
		}
		catch {
			return false;
		}
	},
});

/** The update ports of an ESP32 board; downloads go through the board's TCP/TLS port. */
export function esp32Ota(tcp: TransportFactory): OtaPorts {
	return { writer: new Esp32FirmwareWriter(), boot: esp32BootControl, crypto: moddableOtaCrypto, http: tcp };
}

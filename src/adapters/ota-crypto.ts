/*
 * The OTA crypto port over Moddable's crypt (ESP32 and the Linux target): Digest("SHA256") fed
 * fragment by fragment, and ECDSA P-256 verification (r || s) with the SDK's ecdsa, curve and ecp
 * (crypt/tls.json on the ESP32; listed one by one in platforms/linux/manifest.json), after checking
 * that r and s are in [1, n-1] (the SDK's verify does not). ECPoint.fromOctetString takes a
 * Uint8Array (it reads os[0] and os.length), the hash and the signature ArrayBuffers.
 */

import { Digest } from "crypt";
import Curve from "curve";
import ECDSA from "ecdsa";
import ECPoint from "ecp";
import type { OtaCrypto } from "../ports";

function exactBuffer(bytes: Uint8Array): ArrayBuffer {
	if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
	return bytes.slice().buffer as ArrayBuffer;
}

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
			const ecdsa = new ECDSA(ECPoint.fromOctetString(publicKey.slice()), new Curve("secp256r1"), false);
			return ecdsa.verify(digest.close(), exactBuffer(signature), false);
		}
		catch {
			return false;
		}
	},
});


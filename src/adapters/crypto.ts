/*
 * HmacSha256 and Random ports over Moddable's crypt modules: `crypt` (Digest), `hmac` and `rng`
 * (all included by $(MODDABLE)/modules/crypt/tls.json).
 *
 * HMAC keys must be buffers (a string key would silently become an empty key), so both the key and
 * the data are passed as ArrayBuffers of exactly their length. RNG is seeded from the ESP32's
 * hardware random number generator.
 */

import { Digest } from "crypt";
import HMAC from "hmac";
import RNG from "rng";
import type { HmacSha256, Random } from "../ports";

function exactBuffer(bytes: Uint8Array): ArrayBuffer {
	if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
	return bytes.slice().buffer as ArrayBuffer;
}

export const moddableHmac: HmacSha256 = (key, data) => {
	const hmac = new HMAC(new Digest("SHA256"), exactBuffer(key));
	return new Uint8Array(hmac.process(exactBuffer(data)));
};

export const moddableRandom: Random = Object.freeze({
	float() {
		const bytes = new Uint8Array(RNG.get(4));
		return (((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0) / 4294967296;
	},
	bytes(length) {
		return length > 0 ? new Uint8Array(RNG.get(length)) : new Uint8Array(0);
	},
});

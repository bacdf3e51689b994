/*
 * Declarations for the Moddable SDK modules that the board adapters (src/adapters/) use and that
 * @moddable/typings 5.6 does not declare: crypt (Digest), hmac, rng and neopixel. Written from the
 * SDK's documentation (documentation/crypt/crypt.md, documentation/drivers/neopixel/neopixel.md),
 * limited to what the adapters call.
 *
 * They are pattern declarations ("crypt*", not "crypt") on purpose. Recent SDKs ship their own
 * typings/crypt.d.ts and typings/neopixel.d.ts, and mcconfig puts those in the program it compiles;
 * TypeScript prefers an exact `declare module "crypt"` to a pattern, so there the SDK's declaration
 * is used and this one is ignored, instead of both clashing as duplicate declarations. Where the SDK
 * has none (this repository's typecheck, older SDKs), these are used.
 *
 * The adapters also describe the documented behaviour they rely on in small local interfaces where
 * the published typings are wrong or differ between SDK releases (timer ids, the WiFi callback's
 * second argument, the SNTP error text, the socket's read/write forms).
 */

declare module "crypt*" {
	/** A message digest: "MD5", "SHA1", "SHA224", "SHA256", "SHA384" or "SHA512". */
	export class Digest {
		constructor(algorithm: "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512");
		readonly blockSize: number;
		readonly outputSize: number;
		write(data: string | ArrayBuffer): void;
		/** The digest; the instance must be reset before it is used again. */
		close(): ArrayBuffer;
		reset(): void;
	}
}

declare module "hmac*" {
	import type { Digest } from "crypt";
	/** HMAC over a Digest instance. The key must be a buffer: a string key is silently treated as empty. */
	export default class HMAC {
		constructor(digest: Digest, key: ArrayBuffer, bitLength?: number);
		update(...data: (string | ArrayBuffer)[]): void;
		close(): ArrayBuffer;
		reset(): void;
		/** reset() + update(...data) + close(). */
		process(...data: (string | ArrayBuffer)[]): ArrayBuffer;
	}
}

declare module "rng*" {
	/** Random bytes from a generator seeded by the hardware random number generator. */
	const RNG: {
		get(count: number): ArrayBuffer;
	};
	export default RNG;
}

declare module "neopixel*" {
	/** WS2812-style LEDs driven by the ESP32's RMT peripheral. */
	export default class NeoPixel {
		constructor(options: { length: number; pin: number; order?: string });
		/** Global brightness applied by update(), 0..255 (the driver's default is 64). */
		brightness: number;
		readonly length: number;
		makeRGB(red: number, green: number, blue: number): number;
		setPixel(index: number, color: number): void;
		fill(color: number, index?: number, count?: number): void;
		/** Sends the pixels to the LEDs. */
		update(): void;
		close(): void;
	}
}

declare module "system*" {
	/**
	 * modules/io/system: imported for its effect, which is to define the global `System`
	 * (System.restart() calls esp_restart() on the ESP32).
	 */
}

/*
 * Firmware updates (src/adapters/esp32/ota.ts): embedded:update and embedded:storage/flash
 * (modules/io/update, modules/io/flash), and crypt's ecdsa, curve and ecp (included by
 * crypt/tls.json). Limited to what the adapter calls.
 */

declare module "embedded:update*" {
	export interface UpdateWriter {
		/** Appends bytes (esp_ota_write). Throws "write failed". */
		write(buffer: ArrayBuffer | ArrayBufferView): void;
		/** esp_ota_end + esp_ota_set_boot_partition. Throws "end failed" when the image does not verify. */
		complete(): void;
		/** Abandons the image unless complete() ran (esp_ota_abort). */
		close(): void;
	}
	const Update: {
		/** esp_ota_begin on `partition` (a flash partition object), erasing `byteLength` bytes. */
		open(options: { partition: object; byteLength?: number; mode?: "a" | "w" }): UpdateWriter;
	};
	export default Update;
}

declare module "embedded:storage/flash*" {
	const flash: {
		/** A partition by name; "nextota" is the next update slot (esp_ota_get_next_update_partition). */
		open(options: { path: string; mode?: "r" | "r+" }): object;
	};
	export default flash;
}

declare module "ecp*" {
	export default class ECPoint {
		constructor(x: bigint, y: bigint);
		/** From 04 || X || Y, a Uint8Array (it reads os[0] and os.length: an ArrayBuffer throws "unsupported format"). */
		static fromOctetString(os: Uint8Array): ECPoint;
	}
}

declare module "curve*" {
	export default class Curve {
		constructor(name: "secp256r1" | "secp384r1");
		readonly n: bigint;
		readonly orderSize: number;
	}
}

declare module "ecdsa*" {
	import type Curve from "curve";
	import type ECPoint from "ecp";
	export default class ECDSA {
		/** For verification the key is the public point. */
		constructor(key: ECPoint, curve: Curve, priv?: boolean);
		/** `hash` is the message digest; `signature` r || s (asn1 false) or DER (asn1 true). */
		verify(hash: ArrayBuffer, signature: ArrayBuffer, asn1: boolean): boolean;
	}
}

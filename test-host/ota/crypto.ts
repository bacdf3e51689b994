/*
 * The OTA crypto port on Node (node:crypto), and the operator's signing: P-256 key pairs, the
 * manifest's canonical text signed with ECDSA/SHA-256 as r || s (IEEE P1363), hex everywhere.
 */

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import type { OtaCrypto } from "../../src/ports";
import { canonicalBytes, type FirmwareManifest } from "../../src/ota/manifest";

export const nodeOtaCrypto: OtaCrypto = {
	sha256() {
		const hash = createHash("sha256");
		return {
			update: (bytes) => void hash.update(bytes),
			finish: () => new Uint8Array(hash.digest()),
		};
	},
	verify(publicKey, message, signature) {
		if (publicKey.length !== 65 || publicKey[0] !== 4 || signature.length !== 64) return false;
		try {
			return verify("sha256", message, { key: publicKeyObject(publicKey), dsaEncoding: "ieee-p1363" }, signature);
		}
		catch {
			return false;
		}
	},
};

function b64url(bytes: Uint8Array): string {
	return Buffer.from(bytes).toString("base64url");
}

/** A KeyObject from the uncompressed point 04 || X || Y. */
export function publicKeyObject(point: Uint8Array): KeyObject {
	return createPublicKey({ key: { kty: "EC", crv: "P-256", x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33, 65)) }, format: "jwk" });
}

export interface KeyPair {
	/** PKCS#8 PEM. */
	privatePem: string;
	/** 130 hex digits: the uncompressed point, what the firmware is built with (ota_public_key). */
	publicHex: string;
}

export function generateSigningKey(): KeyPair {
	const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
	return { privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), publicHex: publicHexOf(publicKey) };
}

export function publicHexOf(key: KeyObject): string {
	const jwk = key.export({ format: "jwk" });
	if (jwk.crv !== "P-256" || !jwk.x || !jwk.y) throw new Error("not a P-256 key");
	return `04${Buffer.from(jwk.x, "base64url").toString("hex")}${Buffer.from(jwk.y, "base64url").toString("hex")}`;
}

/** The public half of a private key PEM, as the firmware wants it. */
export function publicHexFromPrivate(privatePem: string): string {
	return publicHexOf(createPublicKey(createPrivateKey(privatePem)));
}

export interface SignInput {
	image: Uint8Array;
	name: string;
	version: string;
	board: string;
	url: string;
	allowDowngrade?: boolean;
}

/** The signed manifest for an image. */
export function signManifest(input: SignInput, privatePem: string): FirmwareManifest {
	const unsigned = {
		name: input.name,
		version: input.version,
		board: input.board,
		size: input.image.length,
		sha256: createHash("sha256").update(input.image).digest("hex"),
		allowDowngrade: input.allowDowngrade ?? false,
	};
	const signature = sign("sha256", canonicalBytes(unsigned), { key: createPrivateKey(privatePem), dsaEncoding: "ieee-p1363" }).toString("hex");
	return { ...unsigned, url: input.url, signature };
}

/*
 * The firmware announcement: a small JSON manifest, its validation, the canonical bytes its
 * signature covers, and version order.
 *
 *   { "name": "esp32-sensor", "version": "0.2.0", "board": "esp32s3", "size": 1234567,
 *     "sha256": "<64 hex>", "url": "https://host/fw.bin", "allowDowngrade": false,
 *     "signature": "<128 hex: ECDSA P-256 r || s>" }
 *
 * The signature covers every field but `url` and `signature` (canonicalText below), so an operator
 * may serve the same signed image from another place; the image itself is bound by size and
 * SHA-256. Nothing in a manifest is trusted before its signature has been checked.
 */

import { utf8Encode } from "bytes";

export interface FirmwareManifest {
	name: string;
	version: string;
	board: string;
	size: number;
	/** Lower-case hex, 64 characters. */
	sha256: string;
	url: string;
	allowDowngrade: boolean;
	/** Lower-case hex, 128 characters: r || s, each 32 bytes big-endian. */
	signature: string;
}

/** Longest manifest accepted (bytes of JSON). */
export const MANIFEST_LIMIT = 2048;
const CANONICAL_PREFIX = "esp32-sensor-ota/1";

export type Parsed = { ok: true; manifest: FirmwareManifest } | { ok: false; error: string; version?: string };

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const NAME = /^[A-Za-z0-9._-]{1,40}$/;
const VERSION = /^\d{1,6}\.\d{1,6}\.\d{1,6}$/;

/** Parses and checks the shape of a manifest (not its signature). */
export function parseManifest(text: string): Parsed {
	if (text.length > MANIFEST_LIMIT) return { ok: false, error: `manifest over the ${MANIFEST_LIMIT}-byte limit` };
	let value: unknown;
	try {
		value = JSON.parse(text);
	}
	catch {
		return { ok: false, error: "manifest is not valid JSON" };
	}
	if (typeof value !== "object" || value === null || Array.isArray(value)) return { ok: false, error: "manifest must be a JSON object" };
	const m = value as Record<string, unknown>;
	const own = (key: string) => (Object.hasOwn(m, key) ? m[key] : undefined);
	const version = typeof own("version") === "string" ? own("version") as string : undefined;
	const fail = (error: string): Parsed => ({ ok: false, error, version: version && VERSION.test(version) ? version : undefined });
	const signature = own("signature");
	if (signature === undefined || signature === "") return fail("manifest is unsigned (no signature)");
	if (typeof signature !== "string" || !HEX128.test(signature)) return fail("signature must be 128 lower-case hex digits (ECDSA P-256 r||s)");
	for (const key of ["name", "board"]) {
		const v = own(key);
		if (typeof v !== "string" || !NAME.test(v)) return fail(`${key} must be 1-40 characters of A-Z a-z 0-9 . _ -`);
	}
	if (version === undefined || !VERSION.test(version)) return fail("version must be MAJOR.MINOR.PATCH");
	const size = own("size");
	if (typeof size !== "number" || !Number.isInteger(size) || size <= 0) return fail("size must be a positive whole number of bytes");
	const sha256 = own("sha256");
	if (typeof sha256 !== "string" || !HEX64.test(sha256)) return fail("sha256 must be 64 lower-case hex digits");
	const url = own("url");
	if (typeof url !== "string" || !/^https?:\/\/[^\s]+$/.test(url) || url.length > 512) return fail("url must be an http:// or https:// URL (at most 512 characters)");
	const allowDowngrade = own("allowDowngrade") ?? false;
	if (typeof allowDowngrade !== "boolean") return fail("allowDowngrade must be true or false");
	return { ok: true, manifest: { name: own("name") as string, version, board: own("board") as string, size, sha256, url, allowDowngrade, signature } };
}

/** The text the signature covers: one field a line, in a fixed order, without url and signature. */
export function canonicalText(m: Omit<FirmwareManifest, "url" | "signature">): string {
	return `${CANONICAL_PREFIX}\nname=${m.name}\nversion=${m.version}\nboard=${m.board}\nsize=${m.size}\nsha256=${m.sha256}\nallowDowngrade=${m.allowDowngrade ? 1 : 0}\n`;
}

export function canonicalBytes(m: Omit<FirmwareManifest, "url" | "signature">): Uint8Array {
	return utf8Encode(canonicalText(m));
}

/** -1, 0 or 1 as `a` is older than, the same as or newer than `b`; undefined if either is not MAJOR.MINOR.PATCH. */
export function compareVersions(a: string, b: string): -1 | 0 | 1 | undefined {
	if (!VERSION.test(a) || !VERSION.test(b)) return undefined;
	const x = a.split(".").map(Number);
	const y = b.split(".").map(Number);
	for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
	return 0;
}

/** Hex text to bytes; undefined when it is not an even number of hex digits. */
export function hexBytes(hex: string): Uint8Array | undefined {
	if (hex.length % 2 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
	const out = new Uint8Array(hex.length / 2);
	for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
	return out;
}

/*
 * bytes: UTF-8 and base64url over Uint8Array.
 *
 * XS has ArrayBuffer.fromString / String.fromArrayBuffer, Node has Buffer and TextEncoder; neither
 * exists on the other side. utf8Encode uses XS's native conversion when the engine has it (found by
 * a feature test, no import: the module stays platform-free) and plain ECMAScript otherwise, with
 * the same bytes either way: a string with a lone surrogate goes through the ECMAScript path, which
 * writes U+FFFD for it (XS would copy its internal three-byte form). Everything else here is plain
 * ECMAScript.
 */

type IsWellFormed = (this: string) => boolean;

/** ArrayBuffer with XS's native UTF-8 conversion (absent on Node, and in xsnap, whose strings are CESU-8). */
const XsArrayBuffer = ArrayBuffer as unknown as { fromString?: (text: string) => ArrayBuffer };
const nativeFromString = typeof XsArrayBuffer.fromString === "function";
/** ES2024 String.prototype.isWellFormed, where the engine has it. */
const isWellFormed: IsWellFormed | undefined = (String.prototype as unknown as { isWellFormed?: IsWellFormed }).isWellFormed;

/** True when utf8Encode converts natively on this engine (XS); for tests and benchmarks. */
export const NATIVE_UTF8 = nativeFromString;

/** Number of bytes `text` takes in UTF-8 (lone surrogates count as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
	let length = 0;
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
		if (c < 0x80) length += 1;
		else if (c < 0x800) length += 2;
		else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
			length += 4;
			i++;
		}
		else length += 3;
	}
	return length;
}

/** Writes `text` as UTF-8 into `target` at `offset`; returns the offset after the last byte. */
export function utf8Write(text: string, target: Uint8Array, offset: number): number {
	for (let i = 0; i < text.length; i++) {
		let c = text.charCodeAt(i);
		if (c < 0x80) {
			target[offset++] = c;
			continue;
		}
		if (c < 0x800) {
			target[offset++] = 0xc0 | (c >> 6);
			target[offset++] = 0x80 | (c & 0x3f);
			continue;
		}
		if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1))) {
			c = 0x10000 + ((c - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
			target[offset++] = 0xf0 | (c >> 18);
			target[offset++] = 0x80 | ((c >> 12) & 0x3f);
			target[offset++] = 0x80 | ((c >> 6) & 0x3f);
			target[offset++] = 0x80 | (c & 0x3f);
			continue;
		}
		if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
		target[offset++] = 0xe0 | (c >> 12);
		target[offset++] = 0x80 | ((c >> 6) & 0x3f);
		target[offset++] = 0x80 | (c & 0x3f);
	}
	return offset;
}

/**
 * `text` in UTF-8, in a Uint8Array of its own (offset 0, exactly its length). Natively on XS: one
 * C call and no loop in JS. A string with a lone surrogate is written by utf8Write (U+FFFD).
 */
export function utf8Encode(text: string): Uint8Array {
	if (nativeFromString) {
		// Called on ArrayBuffer (XS constructs the result with `this`), looked up at each call as
		// Moddable's own modules do: cheaper on XS than a saved function's call().
		const bytes = new Uint8Array(XsArrayBuffer.fromString!(text));
		// As many bytes as UTF-16 units: all ASCII. Otherwise the native bytes are right unless the
		// string has a lone surrogate (where the engine cannot tell, take the ECMAScript path).
		if (bytes.length === text.length || (isWellFormed !== undefined && isWellFormed.call(text))) return bytes;
	}
	return utf8EncodeJs(text);
}

/** utf8Encode in plain ECMAScript on every engine (the reference the native path is tested against). */
export function utf8EncodeJs(text: string): Uint8Array {
	const bytes = new Uint8Array(utf8Length(text));
	utf8Write(text, bytes, 0);
	return bytes;
}

/**
 * Decodes UTF-8. Returns undefined when the bytes are not well-formed UTF-8 (overlong forms,
 * surrogates, truncated sequences), so a caller can refuse them instead of guessing.
 */
export function utf8Decode(bytes: Uint8Array, start = 0, end = bytes.length): string | undefined {
	let out = "";
	let chunk: number[] = [];
	let i = start;
	while (i < end) {
		const b0 = bytes[i];
		let cp: number;
		if (b0 < 0x80) {
			cp = b0;
			i += 1;
		}
		else if (b0 >= 0xc2 && b0 < 0xe0) {
			if (i + 1 >= end || !isContinuation(bytes[i + 1])) return undefined;
			cp = ((b0 & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
			i += 2;
		}
		else if (b0 >= 0xe0 && b0 < 0xf0) {
			if (i + 2 >= end || !isContinuation(bytes[i + 1]) || !isContinuation(bytes[i + 2])) return undefined;
			cp = ((b0 & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
			if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
			i += 3;
		}
		else if (b0 >= 0xf0 && b0 < 0xf5) {
			if (i + 3 >= end || !isContinuation(bytes[i + 1]) || !isContinuation(bytes[i + 2]) || !isContinuation(bytes[i + 3])) return undefined;
			cp = ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
			if (cp < 0x10000 || cp > 0x10ffff) return undefined;
			i += 4;
		}
		else return undefined;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
		}
		else chunk.push(cp);
		if (chunk.length >= 4096) {
			out += String.fromCharCode.apply(null, chunk);
			chunk = [];
		}
	}
	return out + String.fromCharCode.apply(null, chunk);
}

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Character codes of the base64url digits (an array index is XS's cheapest lookup). */
const DIGITS: readonly number[] = Object.freeze(Array.from(BASE64URL, (c) => c.charCodeAt(0)));

/** Length of the base64url text (no padding) of `length` bytes. */
export function base64urlLength(length: number): number {
	return ((length * 4) + 2) / 3 | 0;
}

/**
 * Writes base64url (no padding) of `bytes` as ASCII into `target` at `offset`, in one pass;
 * returns the offset after the last character.
 */
export function base64urlWrite(bytes: Uint8Array, target: Uint8Array, offset: number): number {
	const length = bytes.length;
	let i = 0;
	for (; i + 2 < length; i += 3) {
		const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
		target[offset] = DIGITS[n >> 18];
		target[offset + 1] = DIGITS[(n >> 12) & 63];
		target[offset + 2] = DIGITS[(n >> 6) & 63];
		target[offset + 3] = DIGITS[n & 63];
		offset += 4;
	}
	const rest = length - i;
	if (rest === 1) {
		const n = bytes[i] << 16;
		target[offset++] = DIGITS[n >> 18];
		target[offset++] = DIGITS[(n >> 12) & 63];
	}
	else if (rest === 2) {
		const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
		target[offset++] = DIGITS[n >> 18];
		target[offset++] = DIGITS[(n >> 12) & 63];
		target[offset++] = DIGITS[(n >> 6) & 63];
	}
	return offset;
}

type FromArrayBuffer = (this: StringConstructor, buffer: ArrayBuffer) => string;
/** XS's native bytes-to-string (absent on Node and in xsnap). */
const nativeFromArrayBuffer: FromArrayBuffer | undefined = (String as unknown as { fromArrayBuffer?: FromArrayBuffer }).fromArrayBuffer;

/** ASCII bytes (all below 0x80, which the caller guarantees) as a string. Natively on XS. */
export function asciiString(bytes: Uint8Array): string {
	if (nativeFromArrayBuffer !== undefined && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength)
		return nativeFromArrayBuffer.call(String, bytes.buffer as ArrayBuffer);
	let out = "";
	for (let i = 0; i < bytes.length; i += 4096)
		out += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(bytes.length, i + 4096)) as unknown as number[]);
	return out;
}

/** base64url without padding (RFC 4648 §5), as JWT uses it. */
export function base64urlEncode(bytes: Uint8Array): string {
	const out = new Uint8Array(base64urlLength(bytes.length));
	base64urlWrite(bytes, out, 0);
	return asciiString(out);
}

/** Decodes base64url (padding optional); undefined on any character outside the alphabet. */
export function base64urlDecode(text: string): Uint8Array | undefined {
	const clean = text.replace(/=+$/, "");
	if (clean.length % 4 === 1) return undefined;
	const out = new Uint8Array((clean.length * 3) >> 2);
	let acc = 0;
	let bits = 0;
	let o = 0;
	for (let i = 0; i < clean.length; i++) {
		const v = BASE64URL.indexOf(clean[i]);
		if (v < 0) return undefined;
		acc = (acc << 6) | v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (acc >> bits) & 0xff;
		}
	}
	return out;
}

export function toHex(bytes: Uint8Array, separator = ""): string {
	let out = "";
	for (let i = 0; i < bytes.length; i++) {
		if (i && separator) out += separator;
		out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
	}
	return out;
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
	let length = 0;
	for (const part of parts) length += part.length;
	const out = new Uint8Array(length);
	let offset = 0;
	for (const part of parts) {
		out.set(part, offset);
		offset += part.length;
	}
	return out;
}

function isContinuation(b: number): boolean {
	return (b & 0xc0) === 0x80;
}

function isLowSurrogate(c: number): boolean {
	return c >= 0xdc00 && c <= 0xdfff;
}

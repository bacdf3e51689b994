/*
 * JSON Web Tokens signed with HMAC-SHA256 (RFC 7519 / RFC 7515, "HS256"), as EMQX's JWT
 * authentication expects them in the MQTT password field.
 *
 * The HMAC is supplied by the caller (Moddable's crypt on the board, node:crypto on the host),
 * so this module is plain ECMAScript.
 */

import { base64urlDecode, base64urlEncode, utf8Decode, utf8Encode } from "bytes";

/** HMAC-SHA256 of `data` under `key`: 32 bytes. */
export type HmacSha256 = (key: Uint8Array, data: Uint8Array) => Uint8Array;

export interface Claims {
	iss?: string;
	aud?: string;
	sub?: string;
	iat?: number;
	nbf?: number;
	exp?: number;
	[name: string]: unknown;
}

export interface MintOptions {
	secret: string | Uint8Array;
	/** Wall-clock time, seconds since 1970. */
	now: number;
	/** Lifetime in seconds; exp = iat + ttl. Default 3600. */
	ttl?: number;
	issuer?: string;
	audience?: string;
	subject?: string;
	hmac: HmacSha256;
}

export interface Minted {
	token: string;
	claims: Claims;
}

const HEADER = base64urlEncode(utf8Encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));

function keyBytes(secret: string | Uint8Array): Uint8Array {
	return typeof secret === "string" ? utf8Encode(secret) : secret;
}

/** Signs arbitrary claims. */
export function sign(claims: Claims, secret: string | Uint8Array, hmac: HmacSha256): string {
	const input = HEADER + "." + base64urlEncode(utf8Encode(JSON.stringify(claims)));
	return input + "." + base64urlEncode(hmac(keyBytes(secret), utf8Encode(input)));
}

/** Mints the device token: iss, aud, sub, iat and exp = iat + ttl. */
export function mint(options: MintOptions): Minted {
	if (!(options.now > 0)) throw new RangeError("JWT needs a valid wall-clock time");
	const iat = Math.floor(options.now);
	const claims: Claims = {};
	if (options.issuer) claims.iss = options.issuer;
	if (options.audience) claims.aud = options.audience;
	if (options.subject) claims.sub = options.subject;
	claims.iat = iat;
	claims.exp = iat + (options.ttl ?? 3600);
	return { token: sign(claims, options.secret, options.hmac), claims };
}

/** The first characters of a token, safe to print. */
export function preview(token: string, length = 20): string {
	return token.length <= length ? token.slice(0, Math.min(token.length, 8)) + "..." : token.slice(0, length) + "...";
}

/** Header and claims of a token, without checking its signature; undefined when it is not a JWT. */
export function decode(token: string): { header: Record<string, unknown>; claims: Claims } | undefined {
	const parts = token.split(".");
	if (parts.length !== 3) return undefined;
	try {
		const header = parseJsonPart(parts[0]);
		const claims = parseJsonPart(parts[1]);
		if (!header || !claims) return undefined;
		return { header, claims: claims as Claims };
	}
	catch {
		return undefined;
	}
}

function parseJsonPart(part: string): Record<string, unknown> | undefined {
	const bytes = base64urlDecode(part);
	if (!bytes) return undefined;
	const text = utf8Decode(bytes);
	if (text === undefined) return undefined;
	const value: unknown = JSON.parse(text);
	return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export interface VerifyOptions {
	secret: string | Uint8Array;
	hmac: HmacSha256;
	/** Seconds since 1970. */
	now: number;
	issuer?: string;
	audience?: string;
}

export type VerifyResult = { ok: true; claims: Claims } | { ok: false; reason: string };

/** Verifies an HS256 token the way EMQX does: signature, exp and nbf when present (no leeway), iss/aud when asked. */
export function verify(token: string, options: VerifyOptions): VerifyResult {
	const decoded = decode(token);
	if (!decoded) return { ok: false, reason: "not a JWT" };
	if (decoded.header.alg !== "HS256") return { ok: false, reason: `algorithm ${String(decoded.header.alg)} is not HS256` };
	const dot = token.lastIndexOf(".");
	const expected = hmacOf(token.slice(0, dot), options);
	const given = base64urlDecode(token.slice(dot + 1));
	if (!given || !sameBytes(expected, given)) return { ok: false, reason: "signature does not match the secret" };
	const { claims } = decoded;
	if (typeof claims.exp === "number" && options.now >= claims.exp) return { ok: false, reason: "token expired" };
	if (typeof claims.nbf === "number" && options.now < claims.nbf) return { ok: false, reason: "token not yet valid (nbf)" };
	if (options.issuer !== undefined && claims.iss !== options.issuer) return { ok: false, reason: `issuer ${String(claims.iss)} is not ${options.issuer}` };
	if (options.audience !== undefined && claims.aud !== options.audience) return { ok: false, reason: `audience ${String(claims.aud)} is not ${options.audience}` };
	return { ok: true, claims };
}

function hmacOf(input: string, options: VerifyOptions): Uint8Array {
	return options.hmac(keyBytes(options.secret), utf8Encode(input));
}

/** Constant-time comparison. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
	if (a.length !== b.length) return false;
	let diff = 0;
	for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
	return diff === 0;
}

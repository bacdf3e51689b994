/*
 * JSON Web Tokens signed with HMAC-SHA256 (RFC 7519 / RFC 7515, "HS256"), as EMQX's JWT
 * authentication expects them in the MQTT password field.
 *
 * The HMAC is supplied by the caller (Moddable's crypt on the board, node:crypto on the host),
 * so this module is plain ECMAScript.
 */

import { asciiString, base64urlDecode, base64urlEncode, base64urlLength, base64urlWrite, utf8Decode, utf8Encode } from "bytes";

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

/**
 * Seconds by which a minted token's iat (and nbf) lie before the device's clock. EMQX before 5.8
 * refuses a token whose iat is later than its own clock, with no leeway (emqx_authn_jwt: exp >
 * now, iat <= now, nbf <= now, in whole seconds); a device whose clock runs one second ahead of
 * the broker's would be refused although SNTP set it. With iat a minute early, clocks may differ
 * by up to a minute either way: ahead, iat is still in the broker's past; behind, exp (the
 * device's now + ttl) comes that much sooner, far from the refresh 5 minutes before it.
 */
export const CLOCK_MARGIN = 60;

export interface MintOptions {
	secret: string | Uint8Array;
	/** Wall-clock time, seconds since 1970. */
	now: number;
	/** Lifetime in seconds from now; exp = now + ttl. Default 3600. */
	ttl?: number;
	/** iat (and nbf) = now - margin, in seconds; default CLOCK_MARGIN. exp does not move. */
	margin?: number;
	/** Also send nbf (= iat), for brokers that insist on it. */
	notBefore?: boolean;
	issuer?: string;
	audience?: string;
	subject?: string;
	hmac: HmacSha256;
}

export interface Minted {
	token: string;
	claims: Claims;
}

/** The header segment, computed once: base64url of {"alg":"HS256","typ":"JWT"}. */
const HEADER = base64urlEncode(utf8Encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
const DOT = 0x2e;
const SIGNATURE_LENGTH = base64urlLength(32);

function keyBytes(secret: string | Uint8Array): Uint8Array {
	return typeof secret === "string" ? utf8Encode(secret) : secret;
}

/**
 * Signs arbitrary claims. The token is built as ASCII bytes in one buffer (header segment, claims
 * in base64url written in one pass, signature) and becomes a string once at the end.
 */
export function sign(claims: Claims, secret: string | Uint8Array, hmac: HmacSha256): string {
	const json = utf8Encode(JSON.stringify(claims));
	const header = utf8Encode(HEADER);
	const inputLength = header.length + 1 + base64urlLength(json.length);
	const token = new Uint8Array(inputLength + 1 + SIGNATURE_LENGTH);
	token.set(header, 0);
	token[header.length] = DOT;
	base64urlWrite(json, token, header.length + 1);
	const signature = hmac(keyBytes(secret), token.slice(0, inputLength));
	if (signature.length !== 32) throw new RangeError(`HMAC-SHA256 gave ${signature.length} bytes, not 32`);
	token[inputLength] = DOT;
	base64urlWrite(signature, token, inputLength + 1);
	return asciiString(token);
}

/** Mints the device token: iss, aud, sub, iat = now - margin (nbf too if asked) and exp = now + ttl. */
export function mint(options: MintOptions): Minted {
	if (!(options.now > 0)) throw new RangeError("JWT needs a valid wall-clock time");
	const margin = options.margin ?? CLOCK_MARGIN;
	if (!(margin >= 0) || margin !== Math.floor(margin)) throw new RangeError(`JWT clock margin must be a whole number of seconds >= 0, not ${margin}`);
	const now = Math.floor(options.now);
	const claims: Claims = {};
	if (options.issuer) claims.iss = options.issuer;
	if (options.audience) claims.aud = options.audience;
	if (options.subject) claims.sub = options.subject;
	claims.iat = now - margin;
	if (options.notBefore) claims.nbf = claims.iat;
	claims.exp = now + (options.ttl ?? 3600);
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
	/** Seconds since 1970 (fractions are dropped, as EMQX counts whole seconds). */
	now: number;
	issuer?: string;
	audience?: string;
	/** Refuse an iat after now, as EMQX before 5.8 does (default true; 5.8 dropped the check). */
	checkIat?: boolean;
}

export type VerifyResult = { ok: true; claims: Claims } | { ok: false; reason: string };

/**
 * A time claim as EMQX reads it: a number, or a string holding one ("1795300000"); NaN otherwise
 * (which no comparison accepts). Undefined when the claim is absent.
 */
function timeClaim(value: unknown): number | undefined {
	if (value === undefined) return undefined;
	if (typeof value === "number") return value;
	if (typeof value === "string" && /^[+-]?\d+(\.\d+([eE][+-]?\d+)?)?$/.test(value)) return Number(value);
	return NaN;
}

/**
 * Verifies an HS256 token the way EMQX does: signature; then, when present, exp > now, iat <= now
 * (EMQX before 5.8) and nbf <= now in whole seconds with no leeway, a time claim being a number or
 * a numeric string; iss and aud equal to the expected values when asked.
 */
export function verify(token: string, options: VerifyOptions): VerifyResult {
	const decoded = decode(token);
	if (!decoded) return { ok: false, reason: "not a JWT" };
	if (decoded.header.alg !== "HS256") return { ok: false, reason: `algorithm ${String(decoded.header.alg)} is not HS256` };
	const dot = token.lastIndexOf(".");
	const expected = hmacOf(token.slice(0, dot), options);
	const given = base64urlDecode(token.slice(dot + 1));
	if (!given || !sameBytes(expected, given)) return { ok: false, reason: "signature does not match the secret" };
	const { claims } = decoded;
	const now = Math.floor(options.now);
	const exp = timeClaim(claims.exp);
	const iat = options.checkIat === false ? undefined : timeClaim(claims.iat);
	const nbf = timeClaim(claims.nbf);
	if (exp !== undefined && !(now < exp)) return { ok: false, reason: Number.isNaN(exp) ? "exp is not a number" : "token expired" };
	if (iat !== undefined && !(iat <= now)) return { ok: false, reason: Number.isNaN(iat) ? "iat is not a number" : `token issued in the future (iat ${iat} > now ${now})` };
	if (nbf !== undefined && !(nbf <= now)) return { ok: false, reason: Number.isNaN(nbf) ? "nbf is not a number" : "token not yet valid (nbf)" };
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

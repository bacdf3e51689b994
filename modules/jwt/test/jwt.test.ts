import test from "ava";
import { createHmac } from "node:crypto";
import { jwtVerify, decodeProtectedHeader } from "jose";
import { CLOCK_MARGIN, decode, mint, preview, sign, verify } from "jwt";

const hmac = (key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac("sha256", key).update(data).digest());
const secret = "emqx-shared-secret";
const key = new TextEncoder().encode(secret);
const NOW = Date.UTC(2026, 10, 22, 8, 0, 0) / 1000;

test("a minted token verifies with jose: HS256, iss, aud, sub, iat a minute early and exp = now + ttl", async (t) => {
	const { token } = mint({ secret, now: NOW + 0.7, issuer: "esp32-sensor", audience: "emqx", subject: "sensor_8EA40C", hmac });
	t.deepEqual(decodeProtectedHeader(token), { alg: "HS256", typ: "JWT" });
	const { payload } = await jwtVerify(token, key, { issuer: "esp32-sensor", audience: "emqx", currentDate: new Date(NOW * 1000), algorithms: ["HS256"] });
	t.is(payload.sub, "sensor_8EA40C");
	t.is(payload.iat, Math.floor(NOW) - 60);
	t.is(payload.exp, Math.floor(NOW) + 3600);
	t.is(payload.nbf, undefined, "no nbf unless asked");
	t.notRegex(token, /[+/=]/, "base64url without padding");
});

test("jose refuses a wrong issuer, a wrong audience, an expired token and a tampered signature", async (t) => {
	const { token } = mint({ secret, now: NOW, ttl: 60, issuer: "esp32-device", audience: "emqx", subject: "s", hmac });
	await t.throwsAsync(jwtVerify(token, key, { issuer: "esp32-sensor", currentDate: new Date(NOW * 1000) }), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
	await t.throwsAsync(jwtVerify(token, key, { audience: "other", currentDate: new Date(NOW * 1000) }), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
	await t.throwsAsync(jwtVerify(token, key, { currentDate: new Date((NOW + 60) * 1000) }), { code: "ERR_JWT_EXPIRED" });
	const [h, p, s] = token.split(".");
	const flipped = s.slice(0, -2) + (s.at(-2) === "A" ? "B" : "A") + s.at(-1);
	await t.throwsAsync(jwtVerify(`${h}.${p}.${flipped}`, key, { currentDate: new Date(NOW * 1000) }), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
	const claims = JSON.parse(Buffer.from(p, "base64url").toString());
	claims.exp += 3600;
	const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
	await t.throwsAsync(jwtVerify(forged, key, { currentDate: new Date(NOW * 1000) }), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
	await t.throwsAsync(jwtVerify(token, new TextEncoder().encode("other-secret"), { currentDate: new Date(NOW * 1000) }));
});

test("our own verify agrees with jose on the same cases", (t) => {
	const { token } = mint({ secret, now: NOW, ttl: 60, issuer: "esp32-sensor", audience: "emqx", hmac });
	t.true(verify(token, { secret, hmac, now: NOW + 59, issuer: "esp32-sensor", audience: "emqx" }).ok);
	t.false(verify(token, { secret, hmac, now: NOW + 60 }).ok, "exp is exclusive: no leeway");
	t.false(verify(token, { secret: "x", hmac, now: NOW }).ok);
	t.false(verify(token, { secret, hmac, now: NOW, issuer: "other" }).ok);
	t.false(verify(token, { secret, hmac, now: NOW, audience: "other" }).ok);
	const nbf = sign({ nbf: NOW + 10 }, secret, hmac);
	t.false(verify(nbf, { secret, hmac, now: NOW }).ok);
	t.true(verify(nbf, { secret, hmac, now: NOW + 10 }).ok);
	t.false(verify("a.b", { secret, hmac, now: NOW }).ok);
	t.false(verify(token.replace(/^[^.]+/, "eyJhbGciOiJub25lIn0"), { secret, hmac, now: NOW }).ok, "alg none is refused");
});

test("minting needs a valid time; preview shows at most 20 characters", (t) => {
	t.throws(() => mint({ secret, now: 0, hmac }), { instanceOf: RangeError });
	const { token } = mint({ secret, now: NOW, hmac });
	t.is(preview(token), token.slice(0, 20) + "...");
	t.true(preview(token).length <= 23);
	t.is(decode(token)?.claims.iat, NOW - CLOCK_MARGIN);
	t.is(decode("not a token"), undefined);
});

test("iat (and nbf when asked) lie the margin before the device's clock; exp stays now + ttl", (t) => {
	t.is(CLOCK_MARGIN, 60);
	const base = { secret, hmac, ttl: 600, issuer: "esp32-sensor" };
	t.like(mint({ ...base, now: NOW + 0.9 }).claims, { iat: NOW - 60, exp: NOW + 600 });
	t.like(mint({ ...base, now: NOW, margin: 5, notBefore: true }).claims, { iat: NOW - 5, nbf: NOW - 5, exp: NOW + 600 });
	t.like(mint({ ...base, now: NOW, margin: 0 }).claims, { iat: NOW, exp: NOW + 600 });
	for (const margin of [-1, 0.5, Number.NaN]) t.throws(() => mint({ ...base, now: NOW, margin }), { instanceOf: RangeError });
});

test("a token from a device clock up to a minute ahead or behind the broker's passes EMQX's time rules", (t) => {
	const check = { secret, hmac, now: NOW, issuer: "esp32-sensor", audience: "emqx" };
	for (const skew of [-60, -30, -1, 0, 1, 30, 60]) {
		const { token } = mint({ secret, hmac, now: NOW + skew, issuer: "esp32-sensor", audience: "emqx", notBefore: true });
		t.deepEqual(verify(token, check).ok, true, `device clock ${skew} s off`);
	}
	// Without the margin, a clock one second ahead is refused by an EMQX that checks iat.
	const early = mint({ secret, hmac, now: NOW + 1, margin: 0, issuer: "esp32-sensor", audience: "emqx" });
	t.deepEqual(verify(early.token, check), { ok: false, reason: `token issued in the future (iat ${NOW + 1} > now ${NOW})` });
	t.true(verify(early.token, { ...check, checkIat: false }).ok, "EMQX 5.8 and later no longer check iat");
});

test("verify applies EMQX's time rules: exp > now, iat <= now, nbf <= now, whole seconds, numeric strings read as numbers", (t) => {
	const at = (claims: Record<string, unknown>, now: number) => verify(sign(claims, secret, hmac), { secret, hmac, now });
	t.true(at({ exp: NOW + 1 }, NOW + 0.999).ok, "now counts in whole seconds: exp one second after it passes");
	t.false(at({ exp: NOW }, NOW).ok, "exp equal to now is expired");
	t.true(at({ iat: NOW }, NOW).ok);
	t.false(at({ iat: NOW + 1 }, NOW + 0.999).ok, "an iat one second ahead is refused even 1 ms before it");
	t.true(at({ nbf: NOW }, NOW).ok);
	t.false(at({ nbf: NOW + 1 }, NOW).ok);
	t.true(at({ exp: String(NOW + 10), iat: String(NOW), nbf: `${NOW}.0` }, NOW).ok, "EMQX converts numeric strings");
	t.false(at({ exp: String(NOW) }, NOW).ok);
	t.false(at({ iat: String(NOW + 1) }, NOW).ok);
	for (const name of ["exp", "iat", "nbf"]) {
		for (const value of ["soon", true, null, [NOW], { at: NOW }]) {
			t.false(at({ [name]: value }, NOW).ok, `${name}: ${JSON.stringify(value)} is not a time`);
		}
	}
});

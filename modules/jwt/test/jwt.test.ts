import test from "ava";
import { createHmac } from "node:crypto";
import { jwtVerify, decodeProtectedHeader } from "jose";
import { decode, mint, preview, sign, verify } from "jwt";

const hmac = (key: Uint8Array, data: Uint8Array) => new Uint8Array(createHmac("sha256", key).update(data).digest());
const secret = "emqx-shared-secret";
const key = new TextEncoder().encode(secret);
const NOW = Date.UTC(2026, 10, 22, 8, 0, 0) / 1000;

test("a minted token verifies with jose: HS256, iss, aud, sub, iat and exp = iat + ttl", async (t) => {
	const { token } = mint({ secret, now: NOW + 0.7, issuer: "esp32-sensor", audience: "emqx", subject: "sensor_8EA40C", hmac });
	t.deepEqual(decodeProtectedHeader(token), { alg: "HS256", typ: "JWT" });
	const { payload } = await jwtVerify(token, key, { issuer: "esp32-sensor", audience: "emqx", currentDate: new Date(NOW * 1000), algorithms: ["HS256"] });
	t.is(payload.sub, "sensor_8EA40C");
	t.is(payload.iat, Math.floor(NOW));
	t.is(payload.exp, Math.floor(NOW) + 3600);
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
	t.is(decode(token)?.claims.iat, NOW);
	t.is(decode("not a token"), undefined);
});

/*
 * The embedded broker stands in for EMQX's JWT authenticator (emqx_authn_jwt, HMAC-based): each
 * rule is checked through a real MQTT CONNECT over TCP, with MQTT.js as the client and the
 * broker's clock set by the test. Tokens are built here with node:crypto, independently of the
 * device's jwt module.
 *
 * EMQX's rules (verify_claims, before 5.8): with Now in whole seconds and no leeway, a present exp
 * must be > Now, iat <= Now, nbf <= Now, each a number or a numeric string; iss and aud, when
 * configured, must be present and equal. EMQX 5.8 dropped the iat check (emqx/emqx#13602).
 */

import test from "ava";
import { createHmac } from "node:crypto";
import mqtt from "mqtt";
import { EmbeddedBroker, STATS_LIMIT, type BrokerAuth } from "../brokers/embedded";
import type { WorldClock } from "../adapters/clock";

const SECRET = "emqx-secret";
const NOW = Date.UTC(2026, 10, 22, 8, 0, 0) / 1000;

let clockMs = NOW * 1000;
const clock: WorldClock = {
	now: () => clockMs,
	set: (callback, ms) => setTimeout(callback, ms),
	clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

function token(claims: Record<string, unknown>, options: { alg?: string; secret?: string } = {}): string {
	const alg = options.alg ?? "HS256";
	const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
	const input = `${part({ alg, typ: "JWT" })}.${part(claims)}`;
	const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg] ?? "sha256";
	return `${input}.${createHmac(hash, options.secret ?? SECRET).update(input).digest("base64url")}`;
}

interface Started {
	broker: EmbeddedBroker;
	/** "accepted", or the broker's reason for CONNACK 5. */
	connect(password: string, atMs?: number): Promise<string>;
}

async function start(auth: Partial<Extract<BrokerAuth, { mode: "jwt" }>> = {}): Promise<Started> {
	const broker = await EmbeddedBroker.start({ auth: { mode: "jwt", secret: SECRET, ...auth }, clock });
	const port = await broker.listen(0);
	let n = 0;
	return {
		broker,
		async connect(password, atMs = NOW * 1000) {
			clockMs = atMs;
			const refused = broker.stats.refusedTotal;
			const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId: `d${n++}`, username: "sensor", password, reconnectPeriod: 0, protocolVersion: 4 });
			const outcome = await new Promise<string>((resolve) => {
				client.once("connect", () => resolve("accepted"));
				client.once("error", (e) => resolve(broker.stats.refusedTotal > refused ? broker.stats.refused.at(-1)!.reason : `error ${e.message}`));
			});
			await client.endAsync(true);
			return outcome;
		},
	};
}

test.serial("exp: refused once the broker's clock reaches it (no leeway), in whole seconds", async (t) => {
	const { broker, connect } = await start();
	try {
		t.is(await connect(token({ exp: NOW + 1 })), "accepted");
		t.is(await connect(token({ exp: NOW + 1 }), (NOW + 1) * 1000 - 1), "accepted", "999 ms before exp the broker's second is still NOW");
		t.regex(await connect(token({ exp: NOW })), /JWT rejected: exp \d+ is not after the broker's clock/);
		t.regex(await connect(token({ exp: NOW - 3600 })), /exp/);
	}
	finally {
		await broker.close();
	}
});

test.serial("iat: a token issued even one second after the broker's clock is refused (EMQX before 5.8)", async (t) => {
	const { broker, connect } = await start();
	try {
		t.is(await connect(token({ iat: NOW, exp: NOW + 600 })), "accepted");
		t.is(await connect(token({ iat: NOW - 3600, exp: NOW + 600 })), "accepted");
		t.is(await connect(token({ iat: NOW + 1, exp: NOW + 600 })), `JWT rejected: iat ${NOW + 1} is later than the broker's clock ${NOW}`);
		t.regex(await connect(token({ iat: NOW + 1, exp: NOW + 600 }), (NOW + 1) * 1000 - 1), /iat .* is later than the broker's clock/, "1 ms before: still refused");
		t.is(await connect(token({ iat: NOW + 1, exp: NOW + 600 }), (NOW + 1) * 1000), "accepted");
	}
	finally {
		await broker.close();
	}
});

test.serial("iat: EMQX 5.8 and later (checkIat false) accept an iat in the future", async (t) => {
	const { broker, connect } = await start({ checkIat: false });
	try {
		t.is(await connect(token({ iat: NOW + 3600, exp: NOW + 7200 })), "accepted");
		t.regex(await connect(token({ iat: NOW, exp: NOW })), /exp/, "exp is still checked");
	}
	finally {
		await broker.close();
	}
});

test.serial("nbf: refused while later than the broker's clock", async (t) => {
	const { broker, connect } = await start();
	try {
		t.is(await connect(token({ nbf: NOW, exp: NOW + 600 })), "accepted");
		t.regex(await connect(token({ nbf: NOW + 1, exp: NOW + 600 })), /JWT rejected: nbf \d+ is later than the broker's clock/);
		t.is(await connect(token({ nbf: NOW + 1, exp: NOW + 600 }), (NOW + 1) * 1000), "accepted");
	}
	finally {
		await broker.close();
	}
});

test.serial("time claims may be numeric strings, as EMQX converts them; anything else is refused", async (t) => {
	const { broker, connect } = await start();
	try {
		t.is(await connect(token({ iat: String(NOW), nbf: `${NOW}.0`, exp: String(NOW + 600) })), "accepted");
		t.regex(await connect(token({ exp: String(NOW) })), /exp/);
		t.regex(await connect(token({ iat: String(NOW + 1) })), /iat/);
		for (const name of ["exp", "iat", "nbf"]) t.regex(await connect(token({ [name]: "tomorrow" })), new RegExp(`${name} tomorrow`));
		t.is(await connect(token({})), "accepted", "no time claims at all: nothing to check (EMQX does not require exp)");
	}
	finally {
		await broker.close();
	}
});

test.serial("iss and aud, when configured, must be present and equal", async (t) => {
	const { broker, connect } = await start({ issuer: "esp32-sensor", audience: "emqx" });
	try {
		t.is(await connect(token({ iss: "esp32-sensor", aud: "emqx", exp: NOW + 600 })), "accepted");
		t.is(await connect(token({ aud: "emqx" })), "JWT rejected: no iss claim");
		t.is(await connect(token({ iss: "esp32-sensor" })), "JWT rejected: no aud claim");
		t.regex(await connect(token({ iss: "other", aud: "emqx" })), /iss "other" is not "esp32-sensor"/);
		t.regex(await connect(token({ iss: "esp32-sensor", aud: "mosquitto" })), /aud "mosquitto" is not "emqx"/);
	}
	finally {
		await broker.close();
	}
	const open = await start();
	try {
		t.is(await open.connect(token({ iss: "anyone", aud: "anything" })), "accepted", "not configured: not checked");
	}
	finally {
		await open.broker.close();
	}
});

test.serial("the signature: HS256, HS384 and HS512 with the secret; a wrong secret, alg none or garbage is refused", async (t) => {
	const { broker, connect } = await start();
	try {
		for (const alg of ["HS256", "HS384", "HS512"]) t.is(await connect(token({ exp: NOW + 60 }, { alg })), "accepted", alg);
		t.regex(await connect(token({ exp: NOW + 60 }, { secret: "wrong" })), /signature/);
		const unsigned = `${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(`{"exp":${NOW + 60}}`).toString("base64url")}.`;
		t.regex(await connect(unsigned), /JWT rejected/);
		t.regex(await connect("not-a-jwt"), /JWT rejected/);
		t.is(broker.stats.accepted, 3);
	}
	finally {
		await broker.close();
	}
});

test.serial("the broker's statistics keep the most recent entries only; the counters count all", async (t) => {
	const { broker, connect } = await start();
	try {
		const total = STATS_LIMIT + 10;
		for (let i = 0; i < total; i += 50) await Promise.all(Array.from({ length: Math.min(50, total - i) }, () => connect("garbage")));
		t.is(await connect(token({ exp: NOW + 60 })), "accepted");
		t.is(broker.stats.refusedTotal, total);
		t.is(broker.stats.refused.length, STATS_LIMIT);
		t.is(broker.stats.accepted, 1);
		t.is(broker.stats.connections.length, 1);
	}
	finally {
		await broker.close();
	}
});

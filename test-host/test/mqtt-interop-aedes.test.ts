/*
 * Interoperation of our MQTT client (modules/mqttclient) over real TCP on 127.0.0.1 with the
 * embedded aedes broker (MQTT 3.1.1, EMQX-style JWT authentication), MQTT.js as the independent
 * peer. Also the transport diagnostics that need no broker at all: a closed port, a name that
 * does not resolve, a server that accepts TCP and never answers.
 */

import test from "ava";
import { mint } from "jwt";
import { STATE } from "mqttclient/diagnostics";
import { EmbeddedBroker } from "../brokers/embedded";
import { nodeHmac } from "../adapters/system";
import type { MqttClock } from "mqttclient/transport";
import { closedPort, HOST, Peer, silentServer, sleep, StallingProxy, tapTransport, TestClient } from "./helpers/client";

const SECRET = "interop-secret";
const ISSUER = "sensor-fleet";
const AUDIENCE = "mqtt-broker";
const BACKEND = { username: "backend", password: "backend-pw" };

let broker: EmbeddedBroker;
let port: number;
let url: string;

test.before(async () => {
	broker = await EmbeddedBroker.start({
		auth: { mode: "jwt", secret: SECRET, issuer: ISSUER, audience: AUDIENCE },
		serviceUsers: { [BACKEND.username]: BACKEND.password },
	});
	port = await broker.listen(0);
	url = `mqtt://${HOST}:${port}`;
});

test.after.always(async () => {
	await broker?.close();
});

function token(clientId: string, options: { secret?: string; now?: number; ttl?: number } = {}): string {
	return mint({
		secret: options.secret ?? SECRET,
		now: options.now ?? Date.now() / 1000,
		ttl: options.ttl ?? 600,
		issuer: ISSUER,
		audience: AUDIENCE,
		subject: clientId,
		hmac: nodeHmac,
	}).token;
}

function device(clientId: string, extra: Partial<Parameters<TestClient["connect"]>[0]> = {}) {
	return { port, clientId, username: clientId, password: token(clientId), ...extra };
}

async function backend(t: { teardown(fn: () => unknown): void }): Promise<Peer> {
	const peer = await Peer.connect(url, { ...BACKEND, protocolVersion: 4, clientId: `backend-${Math.random().toString(16).slice(2, 8)}` });
	t.teardown(() => peer.end());
	return peer;
}

function client(t: { teardown(fn: () => unknown): void }, options: ConstructorParameters<typeof TestClient>[0] = {}): TestClient {
	const c = new TestClient({ protocolVersion: 4, keepAlive: 30, socketTimeout: 5, ...options });
	t.teardown(() => c.dispose());
	return c;
}

/** Every byte value, repeated to `length`. */
function binary(length: number, seed = 0): Uint8Array {
	return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

test.serial("connects with a valid JWT in the password field", async (t) => {
	const c = client(t);
	const accepted = broker.stats.accepted;
	const info = await c.open(device("aedes-d0"));
	t.false(info.sessionPresent);
	t.is(info.keepAlive, 30);
	t.is(info.maximumPacketSize, 1024);
	t.true(c.isConnected);
	t.is(broker.stats.accepted, accepted + 1);
	t.is(broker.stats.connections.at(-1)?.clientId, "aedes-d0");
	c.mqtt.disconnect();
	const closed = await c.closed();
	t.is(closed.code, "client_disconnect");
	t.true(closed.wasConnected);
});

test.serial("QoS 0 and QoS 1 publishes reach an MQTT.js subscriber with payload bytes intact, up to a 1024-byte packet", async (t) => {
	const peer = await backend(t);
	await peer.subscribe("dev/aedes-d1/#", 1);
	const c = client(t);
	await c.open(device("aedes-d1"));

	const p0 = binary(256);
	c.publish("dev/aedes-d1/q0", p0, { qos: 0 });
	const p1 = binary(300, 3);
	t.is(await c.publishAcked("dev/aedes-d1/q1", p1, { qos: 1 }), 0);

	// A QoS 1 PUBLISH of exactly 1024 bytes: 1 type byte + 2 length bytes + topic (2 + n) + id (2) + payload.
	const topic = "dev/aedes-d1/full";
	const fullPayload = binary(1024 - 3 - (2 + topic.length) - 2, 5);
	const full = c.publish(topic, fullPayload, { qos: 1 });
	t.is(full.bytes, 1024, "the whole packet is exactly the buffer size");
	await c.until(() => c.delivered.find((d) => d.id === full.id));

	// One byte more is refused locally and the connection stays up.
	const over = c.mqtt.publish(topic, binary(fullPayload.length + 1), { qos: 1 });
	t.false(over.ok);
	if (!over.ok) {
		t.is(over.error.code, "packet_too_large");
		t.regex(over.error.message, /1025 bytes/);
	}
	t.true(c.isConnected);

	const m0 = await peer.message((m) => m.topic === "dev/aedes-d1/q0");
	const m1 = await peer.message((m) => m.topic === "dev/aedes-d1/q1");
	const mf = await peer.message((m) => m.topic === topic);
	t.deepEqual(new Uint8Array(m0.payload), p0);
	t.is(m0.qos, 0);
	t.deepEqual(new Uint8Array(m1.payload), p1);
	t.is(m1.qos, 1);
	t.deepEqual(new Uint8Array(mf.payload), fullPayload);
	t.is(mf.payload.length, 1024 - 3 - 2 - topic.length - 2);
	await sleep(100);
	t.is(peer.messages.filter((m) => m.topic === topic).length, 1, "the refused 1025-byte publish never went out");
});

test.serial("subscribes and receives QoS 0/1 from MQTT.js; the PUBACK goes out after the handler settles", async (t) => {
	const tap = tapTransport(4);
	const c = client(t, { transport: tap.factory });
	await c.open(device("aedes-d2"));
	t.deepEqual(await c.subscribe([{ topic: "cmd/aedes-d2/#", qos: 1 }]), [1]);
	const peer = await backend(t);

	await peer.publish("cmd/aedes-d2/zero", Buffer.from(binary(100)), { qos: 0 });
	const m0 = await c.message((m) => m.topic === "cmd/aedes-d2/zero");
	t.is(m0.qos, 0);
	t.deepEqual(m0.payload, binary(100));

	let settledAt = 0;
	let calledAt = 0;
	c.handler = (m) => {
		if (m.topic !== "cmd/aedes-d2/one") return undefined;
		calledAt = performance.now();
		return sleep(300).then(() => { settledAt = performance.now(); });
	};
	await peer.publish("cmd/aedes-d2/one", Buffer.from("set power 1"), { qos: 1 });
	const m1 = await c.message((m) => m.topic === "cmd/aedes-d2/one");
	t.is(m1.qos, 1);
	t.is(new TextDecoder().decode(m1.payload), "set power 1");
	const incoming = tap.packets.find((r) => r.dir === "in" && r.packet.cmd === "publish" && r.packet.topic === "cmd/aedes-d2/one");
	t.truthy(incoming);
	const id = incoming?.packet.cmd === "publish" ? incoming.packet.messageId : undefined;
	const puback = await c.until(() => tap.packets.find((r) => r.dir === "out" && r.packet.cmd === "puback" && r.packet.messageId === id), 3000, "PUBACK");
	t.true(calledAt > 0);
	t.true(settledAt > 0, "handler settled");
	t.true(puback.at >= settledAt, `PUBACK ${(puback.at - calledAt).toFixed(0)} ms after the handler was called, handler took ${(settledAt - calledAt).toFixed(0)} ms`);
	t.is(tap.packets.filter((r) => r.dir === "out" && r.packet.cmd === "puback").length, 1, "one PUBACK");
});

test.serial("retained status seen by a late subscriber; the retained will is published on an abrupt close()", async (t) => {
	const status = "status/aedes-d3";
	const c = client(t);
	await c.open(device("aedes-d3", { will: { topic: status, payload: "offline", qos: 1, retain: true } }));
	t.is(await c.publishAcked(status, "online", { qos: 1, retain: true }), 0);

	const late = await backend(t);
	await late.subscribe(status, 1);
	const online = await late.message((m) => m.topic === status);
	t.is(online.payload.toString(), "online");
	t.true(online.retain, "a late subscriber gets the retained status");

	c.close();
	const closed = await c.closed();
	t.is(closed.code, "client_close");
	t.is(closed.state, STATE.DISCONNECTED);
	const will = await late.message((m) => m.topic === status && m.payload.toString() === "offline");
	t.false(will.retain, "a live subscriber gets the will as a normal message");

	const later = await backend(t);
	await later.subscribe(status, 1);
	const retained = await later.message((m) => m.topic === status);
	t.is(retained.payload.toString(), "offline", "the will replaced the retained status");
	t.true(retained.retain);
});

test.serial("a JWT signed with the wrong secret is refused: credentials_refused, CONNACK 5, state 5, a generic fix (the application names the JWT)", async (t) => {
	const c = client(t);
	c.connect(device("aedes-d4", { password: token("aedes-d4", { secret: "not-the-secret" }) }));
	const closed = await c.closed();
	t.is(closed.code, "credentials_refused");
	t.is(closed.reasonCode, 5);
	t.is(closed.state, STATE.UNAUTHORIZED);
	t.false(closed.wasConnected);
	t.regex(closed.message, /not authorized/i);
	t.regex(closed.message, /CONNACK 5/);
	// The client cannot tell a JWT from a password: its fix never talks about JWTs; the
	// application, which knows, specialises the fix of credentials_refused.
	t.notRegex(closed.fix ?? "", /JWT|token/i);
	t.regex(closed.fix ?? "", /user name or password/);
	t.regex(broker.stats.refused.at(-1)?.reason ?? "", /signature/);
	t.is(c.connects.length, 0);
});

test.serial("an expired token is refused the same way", async (t) => {
	const c = client(t);
	const hourAgo = Date.now() / 1000 - 3600;
	c.connect(device("aedes-d5", { password: token("aedes-d5", { now: hourAgo, ttl: 600 }) }));
	const closed = await c.closed();
	t.is(closed.code, "credentials_refused");
	t.is(closed.reasonCode, 5);
	t.is(closed.state, STATE.UNAUTHORIZED);
	t.notRegex(closed.fix ?? "", /JWT|token/i);
	t.regex(broker.stats.refused.at(-1)?.reason ?? "", /exp/);
});

/* Transport diagnostics over real sockets (no broker involved) ------------------------- */

test("a closed port: tcp_refused, state -2", async (t) => {
	const c = client(t);
	c.connect({ port: await closedPort(), clientId: "refused" });
	const closed = await c.closed();
	t.is(closed.code, "tcp_refused");
	t.is(closed.state, STATE.CONNECT_FAILED);
	t.regex(closed.message, /ECONNREFUSED/);
	t.regex(closed.fix ?? "", /mqtt\.url/);
	t.false(closed.wasConnected);
});

test("an unresolvable host: dns_failed", async (t) => {
	const c = client(t, { host: "no-such-host.invalid" });
	c.connect({ port: 1883, clientId: "dns" });
	const closed = await c.closed(10_000);
	t.is(closed.code, "dns_failed");
	t.is(closed.state, STATE.CONNECT_FAILED);
	t.regex(closed.message, /no-such-host\.invalid|ENOTFOUND|EAI_AGAIN/);
	t.regex(closed.fix ?? "", /DNS/);
});

test("a server that accepts TCP and never answers: connect_timeout after socketTimeout", async (t) => {
	const server = await silentServer();
	t.teardown(() => server.close());
	const c = client(t, { socketTimeout: 2 });
	const started = performance.now();
	c.connect({ port: server.port, clientId: "silent" });
	const closed = await c.closed(5000);
	const elapsed = performance.now() - started;
	t.is(closed.code, "connect_timeout");
	t.is(closed.state, STATE.CONNECTION_TIMEOUT);
	t.regex(closed.message, /no CONNACK within 2 s/);
	t.true(elapsed >= 1950 && elapsed < 3000, `closed after ${elapsed.toFixed(0)} ms`);
	t.is(server.accepted(), 1);
});

test("half-open through a stalling proxy, with timers that fire early: one PINGREQ, keepalive_timeout on time", async (t) => {
	// Node's setTimeout may fire a little before performance.now() says the delay has passed (it
	// counts from the event loop's cached time), and so may other platforms' timers. This clock
	// fires every timer 5 ms early. The client used to send another PINGREQ whenever its PINGRESP
	// deadline timer fired early, pushing the deadline out each time: with such a clock it never
	// reported the dead connection.
	const proxy = await StallingProxy.start(port);
	t.teardown(() => proxy.close());
	const start = performance.now();
	const timers = new Set<ReturnType<typeof setTimeout>>();
	const early: MqttClock = {
		now: () => Math.floor(performance.now() - start),
		set: (callback, ms) => {
			const handle = setTimeout(() => {
				timers.delete(handle);
				callback();
			}, Math.max(0, ms - 5));
			timers.add(handle);
			return handle;
		},
		clear: (handle) => {
			clearTimeout(handle as ReturnType<typeof setTimeout>);
			timers.delete(handle as ReturnType<typeof setTimeout>);
		},
	};
	t.teardown(() => timers.forEach((h) => clearTimeout(h)));
	const tap = tapTransport(4);
	const c = client(t, { clock: early, transport: tap.factory, keepAlive: 1, socketTimeout: 1 });
	await c.open(device("aedes-early", { port: proxy.port }));
	proxy.stall();
	const stalledAt = performance.now();
	const closed = await c.closed(5000);
	const elapsed = performance.now() - stalledAt;
	t.is(closed.code, "keepalive_timeout");
	t.is(closed.state, STATE.CONNECTION_TIMEOUT);
	t.true(elapsed < 1000 + 1000 + 500, `closed ${elapsed.toFixed(0)} ms after the stall`);
	t.is(tap.packets.filter((r) => r.dir === "out" && r.packet.cmd === "pingreq").length, 1, "a single PINGREQ");
});

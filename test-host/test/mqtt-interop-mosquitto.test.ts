/*
 * Interoperation of our MQTT client (modules/mqttclient) over real TCP on 127.0.0.1 with
 * Mosquitto (a child process, test-host/brokers/mosquitto.ts), MQTT 3.1.1 and 5.0, MQTT.js as
 * the independent peer: password file + ACL, round trips at QoS 0/1/2, will, retained messages,
 * session takeover and resume, ACL denials, oversized packets both ways, a half-open
 * connection through a stalling proxy, TLS with the right and the wrong CA.
 *
 * In CI (CI=true) requireMosquitto() throws when Mosquitto is missing: these tests never skip there.
 */

import test from "ava";
import type { ExecutionContext } from "ava";
import { STATE } from "mqttclient/diagnostics";
import { requireMosquitto, startMosquitto } from "../brokers/mosquitto";
import type { Mosquitto } from "../brokers/mosquitto";
import { describeDiagnostic, Peer, sleep, StallingProxy, tapTransport, TestClient } from "./helpers/client";
import type { TestClientOptions } from "./helpers/client";

type Version = 4 | 5;
const VERSIONS: Version[] = [4, 5];

const DEV = { username: "dev", password: "dev-pw" };
const PEER = { username: "peer", password: "peer-pw" };
// The device may use dev/#; the peer (a backend) everything. denied/# is nobody's for dev.
const ACL = [
	"user dev",
	"topic readwrite dev/#",
	"",
	"user peer",
	"topic readwrite #",
].join("\n");

let shared: Promise<Mosquitto> | undefined;

/** The shared broker (password file, ACL, TLS listener); undefined when Mosquitto is missing locally (the test passes). */
async function mosquitto(t: ExecutionContext): Promise<Mosquitto | undefined> {
	if (!(await requireMosquitto(t))) {
		t.pass("mosquitto not installed");
		return undefined;
	}
	shared ??= startMosquitto({ users: { [DEV.username]: DEV.password, [PEER.username]: PEER.password }, acl: ACL, tls: true });
	return shared;
}

test.after.always(async () => {
	if (shared) await (await shared).stop();
});

let seq = 0;
/** A fresh client id per test (the broker is shared). */
function id(v: Version, what: string): string {
	return `${what}-v${v}-${++seq}`;
}

function client(t: ExecutionContext, v: Version, options: TestClientOptions = {}): TestClient {
	const c = new TestClient({ protocolVersion: v, keepAlive: 30, socketTimeout: 5, ...options });
	t.teardown(() => c.dispose());
	return c;
}

async function peer(t: ExecutionContext, b: Mosquitto, v: Version, options: { clientId?: string } = {}): Promise<Peer> {
	const p = await Peer.connect(`mqtt://${b.host}:${b.port}`, {
		...PEER,
		protocolVersion: v,
		clientId: options.clientId ?? `peer-${Math.random().toString(16).slice(2, 10)}`,
	});
	t.teardown(() => p.end());
	return p;
}

function bytes(length: number, seed = 0): Uint8Array {
	return Uint8Array.from({ length }, (_, i) => (i * 13 + seed) & 0xff);
}

/** Mosquitto's version from its startup log line ("mosquitto version 2.0.11 starting"), as [major, minor, patch]. */
function brokerVersion(b: Mosquitto): [number, number, number] {
	const m = /mosquitto version (\d+)\.(\d+)\.(\d+)/.exec(b.log());
	if (!m) throw new Error(`no version in the Mosquitto log:\n${b.log().slice(0, 500)}`);
	return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function atLeast(version: [number, number, number], wanted: [number, number, number]): boolean {
	for (let i = 0; i < 3; i++) if (version[i] !== wanted[i]) return version[i] > wanted[i];
	return true;
}

/**
 * The PUBACK/PUBCOMP reason of an accepted publish: 0, or in 5.0 0x10 "No matching subscribers"
 * when nobody subscribes (Mosquitto 2.0.11 says so; it is a success code, below 0x80).
 */
function accepted(v: Version, rc: number, subscribers: boolean): boolean {
	return rc === 0 || (v === 5 && !subscribers && rc === 0x10);
}

/** Resolves once the broker's log says `clientId`'s connection is gone. */
async function brokerNoticedClose(b: Mosquitto, clientId: string, before: number): Promise<void> {
	const deadline = Date.now() + 3000;
	for (;;) {
		const tail = b.log().slice(before);
		if (new RegExp(`Client ${clientId} (closed its connection|disconnected)|Socket error on client ${clientId}`).test(tail)) return;
		if (Date.now() > deadline) throw new Error(`broker did not log the close of ${clientId}:\n${tail}`);
		await sleep(20);
	}
}

for (const v of VERSIONS) {
	const name = v === 4 ? "3.1.1" : "5.0";

	test.serial(`${name}: a wrong password is refused with the credentials diagnostic`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const c = client(t, v);
		c.connect({ port: b.port, clientId: id(v, "badpw"), username: DEV.username, password: "wrong" });
		const closed = await c.closed();
		t.log(describeDiagnostic(closed));
		t.is(closed.code, "credentials_refused");
		t.is(closed.reasonCode, v === 4 ? 5 : 0x87, "Mosquitto 2.0.11 answers a bad password with 'not authorized'");
		t.is(closed.state, STATE.UNAUTHORIZED);
		t.false(closed.wasConnected);
		t.regex(closed.message, /not authorized/i);
		t.regex(closed.message, v === 4 ? /CONNACK 5\b/ : /CONNACK 0x87/);
		t.regex(closed.fix ?? "", /password file/);
		t.regex(closed.fix ?? "", /SIGHUP/);
	});

	test.serial(`${name}: QoS 0 and 1 both ways with an MQTT.js peer`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "rt");
		const p = await peer(t, b, v);
		await p.subscribe(`dev/${clientId}/up/#`, 1);
		const c = client(t, v);
		const info = await c.open({ port: b.port, clientId, ...DEV });
		t.false(info.sessionPresent);

		const up0 = bytes(200);
		const up1 = bytes(900, 1);
		c.publish(`dev/${clientId}/up/q0`, up0, { qos: 0 });
		t.is(await c.publishAcked(`dev/${clientId}/up/q1`, up1, { qos: 1 }), 0);
		const r0 = await p.message((m) => m.topic.endsWith("/up/q0"));
		const r1 = await p.message((m) => m.topic.endsWith("/up/q1"));
		t.deepEqual(new Uint8Array(r0.payload), up0);
		t.deepEqual(new Uint8Array(r1.payload), up1);
		t.is(r0.qos, 0);
		t.is(r1.qos, 1);

		t.deepEqual(await c.subscribe({ topic: `dev/${clientId}/down/#`, qos: 1 }), [1]);
		const down0 = bytes(150, 2);
		const down1 = bytes(800, 3);
		await p.publish(`dev/${clientId}/down/q0`, Buffer.from(down0), { qos: 0 });
		await p.publish(`dev/${clientId}/down/q1`, Buffer.from(down1), { qos: 1 });
		const m0 = await c.message((m) => m.topic.endsWith("/down/q0"));
		const m1 = await c.message((m) => m.topic.endsWith("/down/q1"));
		t.deepEqual(m0.payload, down0);
		t.deepEqual(m1.payload, down1);
		t.is(m0.qos, 0);
		t.is(m1.qos, 1);
		t.deepEqual(c.warnings, []);
	});

	test.serial(`${name}: QoS 2 both ways`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "qos2");
		const p = await peer(t, b, v);
		await p.subscribe(`dev/${clientId}/up`, 2);
		const tap = tapTransport(v);
		const c = client(t, v, { transport: tap.factory });
		await c.open({ port: b.port, clientId, ...DEV });
		t.is(await c.publishAcked(`dev/${clientId}/up`, "exactly once", { qos: 2 }), 0, "onDelivered after PUBCOMP");
		const up = await p.message((m) => m.topic.endsWith("/up"));
		t.is(up.qos, 2);
		t.is(up.payload.toString(), "exactly once");
		t.deepEqual(tap.packets.filter((r) => r.packet.cmd !== "connect" && r.packet.cmd !== "connack").map((r) => `${r.dir} ${r.packet.cmd}`),
			["out publish", "in pubrec", "out pubrel", "in pubcomp"]);

		t.deepEqual(await c.subscribe({ topic: `dev/${clientId}/down`, qos: 2 }), [2]);
		await p.publish(`dev/${clientId}/down`, "once more", { qos: 2 });
		const down = await c.message((m) => m.topic.endsWith("/down"));
		t.is(down.qos, 2);
		t.is(new TextDecoder().decode(down.payload), "once more");
		await c.until(() => tap.packets.find((r) => r.dir === "out" && r.packet.cmd === "pubcomp"), 3000, "our PUBCOMP");
		await sleep(100);
		t.is(c.messages.filter((m) => m.topic.endsWith("/down")).length, 1, "delivered once");
	});

	test.serial(`${name}: retained status for a late subscriber; the will is published on an abrupt close`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "will");
		const status = `dev/${clientId}/status`;
		const c = client(t, v);
		await c.open({ port: b.port, clientId, ...DEV, will: { topic: status, payload: "offline", qos: 1, retain: true } });
		t.true(accepted(v, await c.publishAcked(status, "online", { qos: 1, retain: true }), false));

		const late = await peer(t, b, v);
		await late.subscribe(status, 1);
		const online = await late.message((m) => m.topic === status);
		t.is(online.payload.toString(), "online");
		t.true(online.retain);

		c.close();
		t.is((await c.closed()).code, "client_close");
		const will = await late.message((m) => m.topic === status && m.payload.toString() === "offline");
		t.false(will.retain, "live subscribers get the will without the retain flag");
		const later = await peer(t, b, v);
		await later.subscribe(status, 1);
		const retained = await later.message((m) => m.topic === status);
		t.is(retained.payload.toString(), "offline");
		t.true(retained.retain);
	});

	test.serial(`${name}: a second connection with the same client id takes the session over`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "takeover");
		const first = client(t, v);
		await first.open({ port: b.port, clientId, ...DEV });
		const second = client(t, v);
		await second.open({ port: b.port, clientId, ...DEV });
		const closed = await first.closed();
		t.log(describeDiagnostic(closed));
		t.true(closed.wasConnected);
		t.is(closed.state, STATE.CONNECTION_LOST);
		// MQTT 5.0 wants DISCONNECT 0x8E to the old connection; Mosquitto sends it from 2.0.15 on
		// (ChangeLog: "Fix incorrect return code being sent in DISCONNECT when a client session is
		// taken over", #2607). 2.0.11 just closes the socket, in 5.0 as in 3.1.1.
		const version = brokerVersion(b);
		if (v === 5 && atLeast(version, [2, 0, 15])) {
			t.is(closed.code, "session_taken_over");
			t.is(closed.reasonCode, 0x8e);
			t.regex(closed.message, /Session taken over/);
			t.regex(closed.fix ?? "", /unique id/);
		}
		else {
			t.is(closed.code, "connection_lost");
			t.is(closed.reasonCode, undefined);
			t.regex(closed.message, /closed by the broker without DISCONNECT/);
			// Neutral, most likely cause first; a takeover is named, after a restart or a network drop.
			t.regex(closed.fix ?? "", /^most often the broker restarted or stopped, or the network dropped/);
			t.regex(closed.fix ?? "", /another client uses the same client id \(a session taken over/);
			if (v === 5) t.regex(closed.fix ?? "", /Mosquitto before 2\.0\.15/);
		}
		t.regex(b.log(), new RegExp(`Client ${clientId} already connected, closing old connection`));
		t.true(second.isConnected);
		t.is(second.closes.length, 0);
	});

	test.serial(`${name}: a QoS 1 publish denied by the ACL ${v === 5 ? "gets PUBACK 0x87, reported as not_authorized" : "is silently dropped (3.1.1 PUBACK has no reason)"}; the connection stays up`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "acl");
		const p = await peer(t, b, v);
		await p.subscribe("denied/#", 1);
		const c = client(t, v);
		await c.open({ port: b.port, clientId, ...DEV });
		const logBefore = b.log().length;
		const rc = await c.publishAcked("denied/x", "nope", { qos: 1 });
		if (v === 5) {
			t.is(rc, 0x87, "onDelivered(id, 0x87)");
			const w = await c.warning("not_authorized");
			t.log(describeDiagnostic(w));
			t.is(w.reasonCode, 0x87);
			t.is(w.state, STATE.CONNECTED);
			t.regex(w.message, /PUBLISH to denied\/x refused: Not authorized/);
			t.regex(w.fix ?? "", /ACL/);
		}
		else {
			t.is(rc, 0, "3.1.1: a plain PUBACK, nothing tells the client");
			t.deepEqual(c.warnings, []);
		}
		t.regex(b.log().slice(logBefore), new RegExp(`Denied PUBLISH from ${clientId}`));
		t.true(c.isConnected);
		t.true(accepted(v, await c.publishAcked(`dev/${clientId}/after`, "still here", { qos: 1 }), false));
		await sleep(100);
		t.deepEqual(p.messages, [], "the peer never saw the denied message");
	});

	test.serial(`${name}: session resume: queued QoS 1 messages arrive after reconnecting with sessionPresent`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "resume");
		const topic = `dev/${clientId}/cmd`;
		const c = client(t, v);
		const options = { port: b.port, clientId, ...DEV, cleanStart: false, sessionExpiry: v === 5 ? 300 : 0 };
		const first = await c.open(options);
		t.false(first.sessionPresent, "a new client id has no session");
		t.deepEqual(await c.subscribe({ topic, qos: 1 }), [1]);

		const logBefore = b.log().length;
		c.close();
		await brokerNoticedClose(b, clientId, logBefore);
		const p = await peer(t, b, v);
		for (const n of [1, 2, 3]) await p.publish(topic, `queued ${n}`, { qos: 1 });

		const again = await c.open(options);
		t.true(again.sessionPresent, "the broker kept the session");
		await c.until(() => (c.messages.length >= 3 ? true : undefined), 3000, "three queued messages");
		t.deepEqual(c.messages.map((m) => new TextDecoder().decode(m.payload)), ["queued 1", "queued 2", "queued 3"]);
		t.true(c.messages.every((m) => m.qos === 1 && m.topic === topic));
		// Clean up the session so it does not linger in the shared broker.
		c.mqtt.disconnect();
		await c.closed();
	});

	test.serial(`${name}: an inbound message over bufferSize`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "bigin");
		const topic = `dev/${clientId}/big`;
		const tap = tapTransport(v);
		const c = client(t, v, { transport: tap.factory, bufferSize: 1024 });
		await c.open({ port: b.port, clientId, ...DEV });
		t.deepEqual(await c.subscribe({ topic: `dev/${clientId}/#`, qos: 1 }), [1]);
		const p = await peer(t, b, v);
		const logBefore = b.log().length;
		await p.publish(topic, Buffer.from(bytes(2000)), { qos: 1 });
		await p.publish(`dev/${clientId}/small`, "after", { qos: 1 });
		const after = await c.message((m) => m.topic.endsWith("/small"));
		t.is(new TextDecoder().decode(after.payload), "after");
		t.true(c.isConnected, "the connection stays up");
		const bigOnWire = tap.packets.filter((r) => r.dir === "in" && r.packet.cmd === "publish" && r.packet.topic === topic);
		t.deepEqual(c.messages.map((m) => m.topic), [`dev/${clientId}/small`], "the big one never reaches onMessage");
		const log = b.log().slice(logBefore);
		if (v === 4) {
			// 3.1.1 has no way to announce a maximum: Mosquitto sends it, we drain it and say so.
			t.is(bigOnWire.length, 1, "Mosquitto sent the 2000-byte PUBLISH");
			const w = await c.warning("packet_too_large_inbound");
			t.log(describeDiagnostic(w));
			t.regex(w.message, new RegExp(`PUBLISH on ${topic} of 20\\d\\d bytes: over the 1024-byte buffer`));
			t.regex(w.fix ?? "", /bufferSize/);
			const id = bigOnWire[0]?.packet.cmd === "publish" ? bigOnWire[0].packet.messageId : undefined;
			t.truthy(tap.packets.find((r) => r.dir === "out" && r.packet.cmd === "puback" && r.packet.messageId === id),
				"we PUBACK the dropped message so the broker does not keep it in flight");
		}
		else {
			// 5.0: our CONNECT announces Maximum Packet Size 1024, so Mosquitto drops it for us itself.
			t.is(bigOnWire.length, 0, "Mosquitto did not send it");
			t.deepEqual(c.warnings, [], "nothing reaches us, so nothing to report");
			// 2.0.11 logs "Sending PUBLISH to <id> ... (2000 bytes)" and then drops it; the QoS 1
			// message is gone for this client (no retry, no notice to the publisher).
			t.regex(log, new RegExp(`Dropping too large outgoing PUBLISH for ${clientId} \\(\\d+ bytes\\)`));
			t.log(log.split("\n").filter((l) => l.includes(clientId)).join("\n"));
		}
	});

	test.serial(`${name}: an outgoing packet over bufferSize is refused locally; the connection stays up`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const clientId = id(v, "bigout");
		const c = client(t, v, { bufferSize: 1024 });
		await c.open({ port: b.port, clientId, ...DEV });
		const refused = c.mqtt.publish(`dev/${clientId}/big`, bytes(2000), { qos: 1 });
		t.false(refused.ok);
		if (!refused.ok) {
			t.log(describeDiagnostic(refused.error));
			t.is(refused.error.code, "packet_too_large");
			t.is(refused.error.state, STATE.CONNECTED);
			t.regex(refused.error.message, /over the buffer of 1024 bytes; nothing was sent/);
			t.regex(refused.error.fix ?? "", /bufferSize/);
		}
		t.is(c.mqtt.inflight, 0);
		t.true(c.isConnected);
		t.true(accepted(v, await c.publishAcked(`dev/${clientId}/small`, "fits", { qos: 1 }), false));
	});

	test.serial(`${name}: TLS with the broker's CA connects; another CA fails with tls_failed`, async (t) => {
		const b = await mosquitto(t);
		if (!b) return;
		const good = client(t, v);
		const info = await good.open({ port: b.tlsPort!, tls: { ca: b.caPem!, serverName: "localhost" }, clientId: id(v, "tls"), ...DEV });
		t.false(info.sessionPresent);
		t.true(accepted(v, await good.publishAcked(`dev/tls/v${v}`, "over TLS", { qos: 1 }), false));

		const bad = client(t, v);
		bad.connect({ port: b.tlsPort!, tls: { ca: b.otherCaPem!, serverName: "localhost" }, clientId: id(v, "tlsbad"), ...DEV });
		const closed = await bad.closed();
		t.log(describeDiagnostic(closed));
		t.is(closed.code, "tls_failed");
		t.is(closed.state, STATE.CONNECT_FAILED);
		t.false(closed.wasConnected);
		t.regex(closed.message, /SELF_SIGNED_CERT_IN_CHAIN/);
		t.regex(closed.fix ?? "", /mqtt\.ca/);
	});
}

test.serial("half-open connection (proxy stops forwarding both ways): keepalive_timeout within keepalive + socketTimeout", async (t) => {
	const b = await mosquitto(t);
	if (!b) return;
	const proxy = await StallingProxy.start(b.port);
	t.teardown(() => proxy.close());
	const c = client(t, 5, { keepAlive: 2, socketTimeout: 2 });
	await c.open({ port: proxy.port, clientId: id(5, "halfopen"), ...DEV });
	t.is(await c.publishAcked("dev/halfopen", "through the proxy", { qos: 1 }), 0x10, "5.0: accepted, No matching subscribers");
	proxy.stall();
	const stalledAt = performance.now();
	const closed = await c.closed(8000);
	const elapsed = performance.now() - stalledAt;
	t.log(`${describeDiagnostic(closed)} after ${elapsed.toFixed(0)} ms; dropped ${proxy.dropped.toBroker} bytes to the broker`);
	t.is(closed.code, "keepalive_timeout");
	t.is(closed.state, STATE.CONNECTION_TIMEOUT);
	t.true(closed.wasConnected);
	t.regex(closed.message, /within 2 s of PINGREQ/);
	t.true(elapsed >= 2000, `not before socketTimeout: ${elapsed.toFixed(0)} ms`);
	t.true(elapsed <= 2000 + 2000 + 1000, `within keepalive + socketTimeout + 1 s margin: ${elapsed.toFixed(0)} ms`);
	t.is(proxy.dropped.toBroker, 2, "one PINGREQ (2 bytes), swallowed by the stalled proxy, and not repeated");
});

test.serial("keepAlive 10 with socketTimeout 30 (3.1.1 and 5.0): connected for 28 s, a packet at least every 10 s, Mosquitto never logs \"exceeded timeout\"", async (t) => {
	// Mosquitto drops a client it has heard nothing from for 1.5 x keepalive (15 s here). The client
	// used to wait for the old PINGRESP deadline (30 s) before its next PINGREQ: at 10 s, then 40 s,
	// and Mosquitto closed it at about 25 s.
	const b = await mosquitto(t);
	if (!b) return;
	const KEEPALIVE_MS = 10_000;
	const RUN_MS = 28_000;
	const logBefore = b.log().length;
	const runs = VERSIONS.map(async (v) => {
		const clientId = id(v, "keepalive10");
		const tap = tapTransport(v);
		const c = client(t, v, { keepAlive: 10, socketTimeout: 30, transport: tap.factory });
		const info = await c.open({ port: b.port, clientId, ...DEV });
		t.is(info.keepAlive, 10);
		const start = performance.now();
		await sleep(RUN_MS);
		const elapsed = performance.now() - start;
		const out = tap.packets.filter((r) => r.dir === "out");
		const pings = out.filter((r) => r.packet.cmd === "pingreq");
		const answers = tap.packets.filter((r) => r.dir === "in" && r.packet.cmd === "pingresp");
		let longest = 0;
		for (let i = 1; i < out.length; i++) longest = Math.max(longest, out[i].at - out[i - 1].at);
		longest = Math.max(longest, performance.now() - out[out.length - 1].at);
		t.log(`v${v}: ${pings.length} PINGREQs, ${answers.length} PINGRESPs, longest silence towards the broker ${longest.toFixed(0)} ms over ${elapsed.toFixed(0)} ms`);
		t.true(elapsed > 25_000);
		t.true(c.isConnected, `v${v}: ${c.closes.map((x) => `${x.code}: ${x.message}`).join("; ")}`);
		t.deepEqual(c.closes, []);
		t.true(pings.length >= 2, `v${v}: ${pings.length} PINGREQs`);
		t.true(answers.length >= pings.length - 1);
		t.true(longest <= KEEPALIVE_MS + 500, `v${v}: the broker heard nothing for ${longest.toFixed(0)} ms (keepalive ${KEEPALIVE_MS} ms)`);
		return clientId;
	});
	const ids = await Promise.all(runs);
	const log = b.log().slice(logBefore);
	for (const clientId of ids) {
		t.notRegex(log, new RegExp(`Client ${clientId} has exceeded timeout`));
		t.regex(log, new RegExp(`Received PINGREQ from ${clientId}`));
	}
});

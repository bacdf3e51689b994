import test, { type ExecutionContext } from "ava";
import type { CloseInfo, ConnectOptions, MQTTClient } from "mqttclient";
import type { TransportErrorCode } from "mqttclient/diagnostics";
import type { AckPacket, ConnectPacket, ProtocolVersion, PublishPacket, SubscribePacket } from "mqttclient/packets";
import { CONNACK_V5_CODES, mpEncode } from "./oracle";
import { CONNECT, connack, connected, only, publishFromBroker, world, type World } from "./fake";

/*
 * The client over an in-memory transport and the virtual clock (./fake.ts). Packets from the
 * "broker" are encoded with mqtt-packet, and what the client writes is parsed with mqtt-packet.
 */

/* ----------------------------------------------------------------------------------------- */
/* CONNECT                                                                                    */

test("v4 CONNECT carries the client id, credentials, keepalive 60, clean session and will", (t) => {
	const w = world();
	const options: ConnectOptions = {
		...CONNECT,
		username: "device",
		password: "s3cret-jwt",
		will: { topic: "sensors/sensor-42/status", payload: "offline", qos: 1, retain: true },
	};
	const size = w.client.connectSize(options);
	const outcome = w.client.connect(options);
	t.true(outcome.ok);
	t.is(w.net.transports.length, 1);
	t.is(w.net.last.options.host, "broker.local");
	t.is(w.net.last.options.port, 1883);
	t.deepEqual(w.net.last.chunks, [], "nothing is written before the transport is open");
	w.net.last.open();
	const c = only(t, w.net.last.take(), "connect");
	t.is(c.protocolVersion, 4);
	t.is(c.clientId, "sensor-42");
	t.is(c.username, "device");
	t.is(Buffer.from(c.password!).toString(), "s3cret-jwt");
	t.is(c.keepAlive, 60);
	t.true(c.cleanStart);
	t.deepEqual({ ...c.will!, payload: Buffer.from(c.will!.payload).toString() }, { topic: "sensors/sensor-42/status", payload: "offline", qos: 1, retain: true });
	// connectSize(), the outcome and the bytes on the wire agree.
	t.is(w.net.last.bytes().length, size);
	t.true(outcome.ok && outcome.bytes === size);
	w.net.last.receive(connack());
	t.is(w.connects.length, 1);
	t.is(w.connects[0].connectBytes, size, "ConnectInfo.connectBytes is the CONNECT size");
	t.is(w.connects[0].keepAlive, 60);
});

test("v5 CONNECT announces Maximum Packet Size = bufferSize and Receive Maximum = the in-flight window", (t) => {
	for (const [bufferSize, window] of [[1024, undefined], [2048, 4]] as const) {
		const w = world({ protocolVersion: 5, bufferSize, ...(window ? { inflightWindow: window } : {}) });
		w.client.connect({
			...CONNECT, cleanStart: false, sessionExpiry: 3600,
			will: { topic: "s/42/status", payload: new Uint8Array([0]), properties: { willDelayInterval: 5, userProperties: [["reason", "lost"]] } },
		});
		w.net.last.open();
		const c = only(t, w.net.last.take(), "connect") as ConnectPacket;
		t.is(c.protocolVersion, 5);
		t.false(c.cleanStart);
		t.is(c.keepAlive, 60);
		t.is(c.properties?.maximumPacketSize, bufferSize);
		t.is(c.properties?.receiveMaximum, window ?? 8);
		t.is(c.properties?.sessionExpiryInterval, 3600);
		t.is(c.will?.properties?.willDelayInterval, 5);
		t.deepEqual(c.will?.properties?.userProperties, [["reason", "lost"]]);
	}
});

test("connect() refuses a CONNECT larger than bufferSize before opening the transport", (t) => {
	const w = world();
	const options: ConnectOptions = { ...CONNECT, username: "jwt", password: "x".repeat(1200) };
	t.true(w.client.connectSize(options) > 1024);
	const outcome = w.client.connect(options);
	t.false(outcome.ok);
	if (!outcome.ok) {
		t.is(outcome.error.code, "connect_too_large");
		t.regex(outcome.error.message, /\d+ bytes/);
	}
	t.is(w.net.transports.length, 0, "no transport opened");
	t.is(w.client.state, "disconnected");
	t.deepEqual(w.closes, []);
	// The boundary: a CONNECT of exactly bufferSize is accepted.
	// (A CONNECT under 128 bytes has a one-byte remaining length; at 1024 bytes it takes two.)
	const base = w.client.connectSize({ ...CONNECT, username: "jwt", password: "" });
	const exact = { ...CONNECT, username: "jwt", password: "x".repeat(1024 - base - 1) };
	t.is(w.client.connectSize(exact), 1024);
	t.true(w.client.connect(exact).ok);
	w.net.last.open();
	t.is(w.net.last.bytes().length, 1024);
});

/* ----------------------------------------------------------------------------------------- */
/* CONNACK refusals                                                                           */

function refusedWith(t: ExecutionContext, version: ProtocolVersion, rc: number, reasonString?: string): CloseInfo {
	const w = world({ protocolVersion: version });
	w.client.connect(CONNECT);
	w.net.last.open();
	w.net.last.receive(connack({ reasonCode: rc, ...(reasonString ? { properties: { reasonString } } : {}) }));
	t.is(w.closes.length, 1, `one close for ${rc}`);
	t.false(w.client.connected);
	t.true(w.net.last.closedByClient, "the client closes the transport");
	t.deepEqual(w.connects, []);
	return w.closes[0];
}

test("v4 CONNACK return codes 1..5 close with the PubSubClient state and a diagnostic", (t) => {
	const codes = new Set<string>();
	for (let rc = 1; rc <= 5; rc++) {
		const info = refusedWith(t, 4, rc);
		t.false(info.wasConnected);
		t.is(info.reasonCode, rc);
		// PubSubClient: state 1..5 is the CONNACK return code.
		t.is(info.state, rc);
		t.truthy(info.fix);
		t.regex(info.message, new RegExp(`CONNACK ${rc}\\b`));
		codes.add(info.code);
		if (rc >= 4) t.is(info.code, "credentials_refused");
		else t.not(info.code, "credentials_refused");
	}
	t.is(codes.size, 4, "1, 2 and 3 are told apart; 4 and 5 are both credentials");
});

test("v5 CONNACK reason codes 0x80..0x9F close with a diagnostic, wasConnected false", (t) => {
	// The 3.1.1 equivalents (MQTT 5.0 table 3.1): 0x84 = 1, 0x85 = 2, 0x88 = 3, 0x86 = 4, 0x87 = 5.
	const equivalent: Record<number, number> = { 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5 };
	for (const rc of CONNACK_V5_CODES.filter((c) => c >= 0x80)) {
		const info = refusedWith(t, 5, rc, "because");
		const label = `0x${rc.toString(16)}`;
		t.false(info.wasConnected, label);
		t.is(info.reasonCode, rc);
		t.not(info.state, 0, label);
		t.true(info.state === -2 || (info.state >= 1 && info.state <= 5), `${label} state ${info.state}`);
		if (equivalent[rc]) t.is(info.state, equivalent[rc], label);
		t.true(info.message.toLowerCase().includes(label), `${label} in "${info.message}"`);
		t.true(info.message.includes("because"), "the broker's reason string is shown");
		t.truthy(info.fix, label);
	}
	t.is(refusedWith(t, 5, 0x86).code, "credentials_refused");
	t.is(refusedWith(t, 5, 0x87).code, "credentials_refused");
	t.is(refusedWith(t, 5, 0x95).code, "packet_too_large");
	t.is(refusedWith(t, 5, 0x97).code, "quota_exceeded");
	t.not(refusedWith(t, 5, 0x8a).code, "credentials_refused");
});

/* ----------------------------------------------------------------------------------------- */
/* Timeouts                                                                                   */

test("no CONNACK within the socket timeout (30 s) closes with connect_timeout, state -4", (t) => {
	const w = world();
	w.client.connect(CONNECT);
	w.net.last.open();
	w.time.advance(29_999);
	t.is(w.client.state, "connecting");
	t.deepEqual(w.closes, []);
	w.time.advance(1);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "connect_timeout");
	t.is(w.closes[0].state, -4);
	t.false(w.closes[0].wasConnected);
	t.true(w.net.last.closedByClient);
	// A late CONNACK on the abandoned transport is ignored.
	w.net.last.receive(connack());
	t.false(w.client.connected);
	t.is(w.closes.length, 1);
});

test("a TCP connection that never opens closes with connect_timeout too", (t) => {
	const w = world({ socketTimeout: 10 });
	w.client.connect(CONNECT);
	w.time.advance(9_999);
	t.deepEqual(w.closes, []);
	w.time.advance(1);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "connect_timeout");
	t.is(w.closes[0].state, -4);
	t.deepEqual(w.net.last.chunks, []);
});

test("keepalive: PINGREQ after 60 s idle, PINGRESP keeps the connection", (t) => {
	const w = connected(t);
	w.time.advance(59_999);
	t.deepEqual(w.net.last.take(), []);
	w.time.advance(1);
	only(t, w.net.last.take(), "pingreq");
	w.time.advance(2_000);
	w.net.last.receive({ type: "pingresp" });
	// 60 s after that exchange, the next one; never a close.
	w.time.advance(57_999);
	t.deepEqual(w.net.last.take(), []);
	w.time.advance(1);
	only(t, w.net.last.take(), "pingreq");
	w.net.last.receive({ type: "pingresp" });
	for (let i = 0; i < 10; i++) {
		w.time.advance(60_000);
		only(t, w.net.last.take(), "pingreq");
		w.net.last.receive({ type: "pingresp" });
	}
	t.true(w.client.connected);
	t.deepEqual(w.closes, []);
});

test("keepalive: no PINGRESP within 30 s closes with keepalive_timeout, 90 s after the last traffic", (t) => {
	const w = connected(t);
	w.time.advance(60_000);
	only(t, w.net.last.take(), "pingreq");
	w.time.advance(29_999);
	t.true(w.client.connected);
	w.time.advance(1);
	t.is(w.time.now, 90_000);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "keepalive_timeout");
	t.is(w.closes[0].state, -4);
	t.true(w.closes[0].wasConnected);
	t.true(w.net.last.closedByClient);
});

test("keepalive: a client that only publishes still pings at 60 s and detects a silent broker at 90 s", (t) => {
	const w = connected(t);
	for (let i = 1; i <= 5; i++) {
		w.time.advance(10_000);
		t.true(w.client.publish("sensors/42/t", `${i}`).ok);
	}
	t.is(w.net.last.take().length, 5);
	w.time.advance(10_000);
	t.is(w.time.now, 60_000);
	const sent = w.net.last.take();
	t.deepEqual(sent.map((p) => p.type), ["pingreq"], "PINGREQ at 60 s although the client sent data at 50 s");
	for (let i = 0; i < 2; i++) {
		w.time.advance(10_000);
		w.client.publish("sensors/42/t", "x");
	}
	t.true(w.client.connected);
	w.time.advance(10_000);
	t.is(w.time.now, 90_000);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "keepalive_timeout");
});

test("keepalive: a broker that only publishes does not stop the client from pinging at 60 s", (t) => {
	const w = connected(t);
	for (let i = 1; i <= 5; i++) {
		w.time.advance(10_000);
		w.net.last.receive(publishFromBroker("cmd/42", "x", 0));
	}
	w.time.advance(10_000);
	only(t, w.net.last.take(), "pingreq");
});

test("keepalive 0 never pings; a v5 Server Keep Alive replaces the requested one", (t) => {
	const idle = connected(t, { keepAlive: 0 });
	idle.time.advance(3_600_000);
	t.deepEqual(idle.net.last.take(), []);
	t.true(idle.client.connected);

	const w = connected(t, { protocolVersion: 5 }, {}, { properties: { serverKeepAlive: 20 } });
	t.is(w.connects[0].keepAlive, 20);
	w.time.advance(20_000);
	only(t, w.net.last.take(), "pingreq");
});

/* ----------------------------------------------------------------------------------------- */
/* Publishing                                                                                 */

test("QoS 0, 1 and 2 publish flows", (t) => {
	const w = connected(t);
	const q0 = w.client.publish("a/0", "zero");
	t.true(q0.ok);
	const p0 = only(t, w.net.last.take(), "publish");
	t.is(p0.qos, 0);
	t.is(p0.id, undefined);
	t.is(Buffer.from(p0.payload).toString(), "zero");
	t.true(q0.ok && q0.bytes === mpEncode(p0, 4).length);

	const q1 = w.client.publish("a/1", "one", { qos: 1, retain: true });
	t.true(q1.ok);
	const p1 = only(t, w.net.last.take(), "publish");
	t.is(p1.qos, 1);
	t.true(p1.retain);
	t.false(p1.dup);
	t.true(q1.ok && p1.id === q1.id && q1.id > 0);
	t.is(w.client.inflight, 1);
	w.net.last.receive({ type: "puback", id: p1.id! });
	t.deepEqual(w.delivered, [[p1.id!, 0]]);
	t.is(w.client.inflight, 0);

	const q2 = w.client.publish("a/2", "two", { qos: 2 });
	const p2 = only(t, w.net.last.take(), "publish");
	t.is(p2.qos, 2);
	t.true(q2.ok && p2.id === q2.id);
	w.net.last.receive({ type: "pubrec", id: p2.id! });
	t.deepEqual(only(t, w.net.last.take(), "pubrel"), { type: "pubrel", id: p2.id! });
	t.is(w.delivered.length, 1, "not delivered before PUBCOMP");
	w.net.last.receive({ type: "pubcomp", id: p2.id! });
	t.deepEqual(w.delivered, [[p1.id!, 0], [p2.id!, 0]]);
	t.is(w.client.inflight, 0);
	// An acknowledgement for nothing is a warning, not a delivery.
	w.net.last.receive({ type: "puback", id: p1.id! });
	t.is(w.delivered.length, 2);
	t.true(w.warnings.some((d) => d.code === "unknown_packet_id"));
});

test("the in-flight window (8) refuses with inflight_full, then accepts after a PUBACK; ids are unique", (t) => {
	const w = connected(t);
	const ids: number[] = [];
	for (let i = 0; i < 8; i++) {
		const o = w.client.publish("w", `${i}`, { qos: (i % 2 + 1) as 1 | 2 });
		t.true(o.ok);
		if (o.ok) ids.push(o.id);
	}
	t.is(new Set(ids).size, 8);
	t.false(ids.includes(0));
	t.false(w.client.canPublish(1));
	t.true(w.client.canPublish(0));
	const refused = w.client.publish("w", "9", { qos: 1 });
	t.false(refused.ok);
	if (!refused.ok) t.is(refused.error.code, "inflight_full");
	t.true(w.client.publish("w", "q0 still goes").ok);
	const written = w.net.last.take();
	t.is(written.length, 9);
	t.deepEqual(written.slice(0, 8).map((p) => (p as PublishPacket).id), ids);
	w.net.last.receive({ type: "puback", id: ids[0] });
	const again = w.client.publish("w", "9", { qos: 1 });
	t.true(again.ok);
	if (again.ok) t.false(ids.slice(1).includes(again.id), "not an id still in flight");
	t.deepEqual(w.delivered, [[ids[0], 0]]);
});

test("v5 PUBACK 0x87 is delivered with its reason code and warned as not_authorized", (t) => {
	const w = connected(t, { protocolVersion: 5 });
	const o = w.client.publish("acl/denied", "x", { qos: 1 });
	t.true(o.ok);
	const id = o.ok ? o.id : 0;
	w.net.last.receive({ type: "puback", id, reasonCode: 0x87, properties: { reasonString: "ACL" } });
	t.deepEqual(w.delivered, [[id, 0x87]]);
	t.is(w.warnings.length, 1);
	t.is(w.warnings[0].code, "not_authorized");
	t.is(w.warnings[0].reasonCode, 0x87);
	t.regex(w.warnings[0].message, /acl\/denied/);
	t.true(w.client.connected);
});

/** Payload length for a PUBLISH to a 3-byte topic with total size `total` (remaining 128..16383). */
function payloadForTotal(total: number, qos: 0 | 1 | 2, version: ProtocolVersion): number {
	// 1 type byte + 2 remaining-length bytes + topic (2 + 3) + id (2 if QoS > 0) + property length (1, 5.0).
	return total - 3 - 5 - (qos ? 2 : 0) - (version === 5 ? 1 : 0);
}

for (const version of [4, 5] as const) {
	test(`v${version}: publish of 1023 and 1024 bytes goes out, 1025 is refused with packet_too_large and nothing written`, (t) => {
		const w = connected(t, { protocolVersion: version });
		for (const qos of [0, 1] as const) {
			for (const total of [1023, 1024]) {
				const o = w.client.publish("s/t", new Uint8Array(payloadForTotal(total, qos, version)), { qos });
				t.true(o.ok, `${total} qos ${qos}`);
				t.true(o.ok && o.bytes === total);
				t.is(w.net.last.bytes().length, total);
				w.net.last.forget();
			}
			const inflight = w.client.inflight;
			const big = w.client.publish("s/t", new Uint8Array(payloadForTotal(1025, qos, version)), { qos });
			t.false(big.ok);
			if (!big.ok) {
				t.is(big.error.code, "packet_too_large");
				t.regex(big.error.message, /1025/);
			}
			t.deepEqual(w.net.last.chunks, [], "nothing written");
			t.is(w.client.inflight, inflight, "a refused publish takes no in-flight slot");
			t.true(w.client.connected);
		}
		t.true(w.client.publish("s/t", "small").ok);
		t.is(w.net.last.sent().length, 1);
		t.deepEqual(w.closes, []);
	});
}

test("v5: the server's Maximum Packet Size below the buffer is enforced", (t) => {
	const w = connected(t, { protocolVersion: 5 }, {}, { properties: { maximumPacketSize: 300 } });
	t.is(w.connects[0].maximumPacketSize, 300);
	t.is(w.client.maximumPacketSize, 300);
	t.true(w.client.publish("s/t", new Uint8Array(payloadForTotal(300, 0, 5))).ok);
	const o = w.client.publish("s/t", new Uint8Array(payloadForTotal(301, 0, 5)));
	t.false(o.ok);
	if (!o.ok) {
		t.is(o.error.code, "packet_too_large");
		t.regex(o.error.message, /Maximum Packet Size/);
	}
	t.is(w.net.last.sent().length, 1);
	// A subscription that would exceed it is refused the same way.
	const sub = w.client.subscribe({ topic: "x/".repeat(200) + "y", qos: 0 });
	t.false(sub.ok);
	t.true(w.client.connected);
});

/* ----------------------------------------------------------------------------------------- */
/* Receiving                                                                                  */

for (const version of [4, 5] as const) {
	test(`v${version}: an incoming QoS 1 PUBLISH of 1025 bytes is dropped with a warning and acknowledged; the connection stays up`, (t) => {
		const w = connected(t, { protocolVersion: version });
		const payload = new Uint8Array(payloadForTotal(1025, 1, version) - 4); // topic "cmd/big" is 4 bytes longer than "s/t"
		const big = publishFromBroker("cmd/big", payload, 1, 77);
		t.is(mpEncode(big, version).length, 1025);
		const next = publishFromBroker("cmd/next", "ok", 1, 78);
		w.net.last.receive([big, next]);
		t.true(w.client.connected);
		t.is(w.warnings.length, 1);
		t.is(w.warnings[0].code, "packet_too_large_inbound");
		t.regex(w.warnings[0].message, /cmd\/big/);
		t.regex(w.warnings[0].message, /1025/);
		t.deepEqual(w.messages.map((m) => m.topic), ["cmd/next"]);
		const acks = w.net.last.take() as AckPacket[];
		t.deepEqual(acks.map((a) => [a.type, a.id]), [["puback", 77], ["puback", 78]]);
		t.deepEqual(w.closes, []);
		// QoS 2: PUBREC, then the PUBREL/PUBCOMP exchange completes it.
		w.net.last.receive(publishFromBroker("cmd/big", payload, 2, 79));
		t.deepEqual((w.net.last.take() as AckPacket[]).map((a) => [a.type, a.id]), [["pubrec", 79]]);
		w.net.last.receive({ type: "pubrel", id: 79 });
		t.deepEqual((w.net.last.take() as AckPacket[]).map((a) => [a.type, a.id]), [["pubcomp", 79]]);
		t.is(w.messages.length, 1);
	});
}

test("incoming QoS 1: PUBACK is written only after the handler ran", (t) => {
	let ackedDuringHandler: boolean | undefined;
	const w = connected(t, {
		onMessage: () => {
			ackedDuringHandler = w.net.last.sent().some((p) => p.type === "puback");
		},
	});
	w.net.last.receive(publishFromBroker("cmd/1", "x", 1, 5));
	t.false(ackedDuringHandler);
	t.deepEqual(w.net.last.take(), [{ type: "puback", id: 5 }]);
});

test("incoming QoS 1 with an async handler: PUBACK only after its promise resolves", async (t) => {
	let resolve!: () => void;
	const w = connected(t, { onMessage: () => new Promise<void>((r) => { resolve = r; }) });
	w.net.last.receive(publishFromBroker("cmd/1", "x", 1, 6));
	await Promise.resolve();
	await new Promise((r) => setImmediate(r));
	t.deepEqual(w.net.last.take(), [], "not acknowledged while the handler runs");
	resolve();
	await new Promise((r) => setImmediate(r));
	t.deepEqual(w.net.last.take(), [{ type: "puback", id: 6 }]);
});

test("incoming QoS 1: a throwing or rejecting handler is warned about and the message still acknowledged", async (t) => {
	let mode: "throw" | "reject" = "throw";
	const w = connected(t, {
		onMessage: () => {
			if (mode === "throw") throw new Error("boom");
			return Promise.reject(new Error("async boom"));
		},
	});
	t.notThrows(() => w.net.last.receive(publishFromBroker("cmd/1", "x", 1, 7)));
	t.deepEqual(w.net.last.take(), [{ type: "puback", id: 7 }]);
	t.is(w.warnings.length, 1);
	t.regex(w.warnings[0].message, /boom/);
	mode = "reject";
	w.net.last.receive(publishFromBroker("cmd/1", "x", 1, 8));
	await new Promise((r) => setImmediate(r));
	t.deepEqual(w.net.last.take(), [{ type: "puback", id: 8 }]);
	t.is(w.warnings.length, 2);
	t.regex(w.warnings[1].message, /async boom/);
	t.true(w.client.connected);
});

test("incoming QoS 2: delivered once although resent before PUBREL; PUBREC, PUBREL, PUBCOMP", (t) => {
	const w = connected(t);
	w.net.last.receive(publishFromBroker("cmd/2", "once", 2, 9));
	t.is(w.messages.length, 1);
	t.deepEqual(w.net.last.take(), [{ type: "pubrec", id: 9 }]);
	// The broker did not get the PUBREC and sends the PUBLISH again, with DUP.
	w.net.last.receive(publishFromBroker("cmd/2", "once", 2, 9, { dup: true }));
	t.is(w.messages.length, 1, "not delivered twice");
	t.deepEqual(w.net.last.take(), [{ type: "pubrec", id: 9 }]);
	w.net.last.receive({ type: "pubrel", id: 9 });
	t.deepEqual(w.net.last.take(), [{ type: "pubcomp", id: 9 }]);
	// The id is free again: a new message with it is a new message.
	w.net.last.receive(publishFromBroker("cmd/2", "twice", 2, 9));
	t.deepEqual(w.messages.map((m) => Buffer.from(m.payload).toString()), ["once", "twice"]);
});

/* ----------------------------------------------------------------------------------------- */
/* Backpressure                                                                               */

test("backpressure: publishes queue up to sendQueueSize, then busy (no throw); onWritable after the drain", (t) => {
	const w = connected(t);
	w.net.last.room = 0;
	const accepted: string[] = [];
	let refused = 0;
	for (let i = 0; i < 100; i++) {
		const payload = `m${i}`.padEnd(100, ".");
		let o;
		t.notThrows(() => { o = w.client.publish("q/t", payload); });
		const outcome = o as unknown as ReturnType<MQTTClient["publish"]>;
		if (outcome.ok) accepted.push(payload);
		else {
			t.is(outcome.error.code, "busy");
			refused++;
		}
		t.true(w.client.queuedBytes <= 2048, `queue ${w.client.queuedBytes}`);
	}
	t.true(accepted.length > 5 && refused > 0);
	t.deepEqual(w.net.last.chunks, []);
	t.is(w.writable, 0);
	// A QoS 1 refused as busy takes no in-flight slot.
	const q1 = w.client.publish("q/t", "x".repeat(100), { qos: 1 });
	t.false(q1.ok);
	t.is(w.client.inflight, 0);
	w.net.last.drain();
	t.is(w.client.queuedBytes, 0);
	t.is(w.writable, 1);
	t.deepEqual(w.net.last.take().map((p) => Buffer.from((p as PublishPacket).payload).toString()), accepted);
	t.true(w.client.publish("q/t", "after").ok);
	t.is(w.net.last.overWrites, 0);
});

test("backpressure: a small sendQueueSize and partial writes deliver the exact byte stream", (t) => {
	const w = connected(t, { sendQueueSize: 500 });
	w.net.last.room = 0;
	const accepted: string[] = [];
	for (let i = 0; i < 20; i++) {
		const payload = `${i}:`.padEnd(90, "#");
		const o = w.client.publish("p/t", payload, { qos: 1 });
		if (o.ok) accepted.push(payload);
		else t.true(o.error.code === "busy" || o.error.code === "inflight_full", o.error.code);
	}
	t.true(w.client.queuedBytes <= 500);
	t.true(accepted.length >= 4);
	// Drain 7 bytes at a time: packets are split across writes.
	let rounds = 0;
	while (w.client.queuedBytes > 0 && rounds < 10_000) {
		w.net.last.drain(7);
		rounds++;
	}
	t.is(w.client.queuedBytes, 0);
	t.true(w.net.last.chunks.every((c) => c.length <= 7));
	t.true(w.net.last.chunks.length > accepted.length);
	t.deepEqual(w.net.last.take().map((p) => Buffer.from((p as PublishPacket).payload).toString()), accepted);
	t.is(w.net.last.overWrites, 0);
	t.true(w.client.connected);
});

/* ----------------------------------------------------------------------------------------- */
/* Reconnect                                                                                  */

for (const sessionPresent of [true, false]) {
	test(`reconnect with unacknowledged QoS 1 (sessionPresent ${sessionPresent}): resent with DUP=${sessionPresent ? 1 : 0} and the same ids, none lost or doubled`, (t) => {
		const w = connected(t, {}, { cleanStart: false });
		const ids: number[] = [];
		for (const text of ["a", "b", "c"]) {
			const o = w.client.publish("r/t", text, { qos: 1 });
			if (o.ok) ids.push(o.id);
		}
		w.net.last.take();
		w.net.last.receive({ type: "puback", id: ids[1] });
		w.net.last.hangUp();
		t.is(w.closes.length, 1);
		t.is(w.closes[0].code, "connection_lost");
		t.true(w.closes[0].wasConnected);
		t.is(w.client.inflight, 2);

		t.true(w.client.connect({ ...CONNECT, cleanStart: false }).ok);
		const second = w.net.last;
		second.open();
		second.receive(connack({ sessionPresent }));
		const resent = second.take().filter((p) => p.type === "publish") as PublishPacket[];
		t.deepEqual(resent.map((p) => [p.id, Buffer.from(p.payload).toString(), p.dup]), [[ids[0], "a", sessionPresent], [ids[2], "c", sessionPresent]]);
		t.is(w.connects[1].resent, 2);
		second.receive([{ type: "puback", id: ids[0] }, { type: "puback", id: ids[2] }]);
		t.deepEqual(w.delivered.map(([id]) => id).sort(), [...ids].sort());
		t.is(w.client.inflight, 0);
		// Nothing more goes out, and a duplicate PUBACK delivers nothing.
		second.receive({ type: "puback", id: ids[0] });
		t.is(w.delivered.length, 3);
		t.deepEqual(second.take(), []);
	});
}

test("reconnect with a QoS 2 message past PUBREC: the resumed session gets PUBREL, not the PUBLISH", (t) => {
	const w = connected(t, {}, { cleanStart: false });
	const o = w.client.publish("r/2", "x", { qos: 2 });
	const id = o.ok ? o.id : 0;
	w.net.last.receive({ type: "pubrec", id });
	w.net.last.take();
	w.net.last.hangUp();
	w.client.connect({ ...CONNECT, cleanStart: false });
	w.net.last.open();
	w.net.last.receive(connack({ sessionPresent: true }));
	t.deepEqual(w.net.last.take().slice(1), [{ type: "pubrel", id }]);
	w.net.last.receive({ type: "pubcomp", id });
	t.deepEqual(w.delivered, [[id, 0]]);
});

/* ----------------------------------------------------------------------------------------- */
/* Server disconnects, transport errors, protocol errors                                      */

test("v5 DISCONNECT from the server maps 0x8E, 0x95, 0x97 to diagnostics", (t) => {
	const expected: [number, string][] = [[0x8e, "session_taken_over"], [0x95, "packet_too_large"], [0x97, "quota_exceeded"]];
	for (const [rc, code] of expected) {
		const w = connected(t, { protocolVersion: 5 });
		w.net.last.receive({ type: "disconnect", reasonCode: rc, properties: { reasonString: "by broker" } });
		t.is(w.closes.length, 1);
		const info = w.closes[0];
		t.is(info.code, code);
		t.is(info.reasonCode, rc);
		t.true(info.wasConnected);
		t.regex(info.message, /by broker/);
		t.truthy(info.fix);
		if (rc === 0x8e) t.regex(info.fix!, /client id/);
		t.true(w.net.last.closedByClient);
	}
});

test("transport errors map to diagnostics", (t) => {
	const cases: [TransportErrorCode, string, number][] = [["refused", "tcp_refused", -2], ["dns", "dns_failed", -2], ["tls", "tls_failed", -2], ["timeout", "connect_timeout", -4]];
	for (const [code, diagnostic, state] of cases) {
		const w = world();
		w.client.connect(CONNECT);
		w.net.last.fail(code, "detail");
		t.is(w.closes.length, 1);
		t.is(w.closes[0].code, diagnostic);
		t.is(w.closes[0].state, state);
		t.false(w.closes[0].wasConnected);
		t.truthy(w.closes[0].fix);
	}
	const w = connected(t);
	w.net.last.hangUp();
	t.is(w.closes[0].code, "connection_lost");
	t.is(w.closes[0].state, -3);
	t.true(w.closes[0].wasConnected);
	t.regex(w.closes[0].fix!, /taken over/);
	t.regex(w.closes[0].fix!, /client id/);
});

test("v5: a Topic Alias from the server closes with a protocol error (DISCONNECT 0x94)", (t) => {
	const w = connected(t, { protocolVersion: 5 });
	t.notThrows(() => w.net.last.receive(publishFromBroker("cmd/x", "1", 0, undefined, { properties: { topicAlias: 1 } })));
	t.deepEqual(w.messages, []);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "protocol_error");
	t.deepEqual(w.net.last.take(), [{ type: "disconnect", reasonCode: 0x94 }]);
});

for (const version of [4, 5] as const) {
	test(`v${version}: a malformed packet from the server closes with protocol_error, no exception`, (t) => {
		const w = connected(t, { protocolVersion: version });
		// PUBLISH whose topic is not UTF-8, followed by a valid one that must not be delivered.
		const bad = new Uint8Array([0x30, 0x05, 0x00, 0x02, 0xc3, 0x28, 0x41]);
		const good = mpEncode(publishFromBroker("ok", "x", 0), version);
		t.notThrows(() => w.net.last.receive(Buffer.concat([bad, good])));
		t.is(w.closes.length, 1);
		t.is(w.closes[0].code, "protocol_error");
		t.true(w.closes[0].wasConnected);
		t.deepEqual(w.messages, []);
		const after = w.net.last.take();
		t.deepEqual(after, version === 5 ? [{ type: "disconnect", reasonCode: 0x81 }] : []);
		// More bytes on the dead connection change nothing.
		t.notThrows(() => w.net.last.receive(good));
		t.is(w.closes.length, 1);
		t.deepEqual(w.messages, []);
	});
}

test("nothing is delivered after the close, even from the same chunk", (t) => {
	const w = connected(t, { protocolVersion: 5 });
	w.net.last.receive([{ type: "disconnect", reasonCode: 0x8e }, publishFromBroker("late", "x", 1, 3)]);
	t.is(w.closes.length, 1);
	t.deepEqual(w.messages, []);
	t.deepEqual(w.net.last.take(), []);
});

test("reconnecting from onClose does not feed the rest of the old chunk to the new connection", (t) => {
	let w!: World;
	let reconnected = false;
	w = connected(t, {
		protocolVersion: 5,
		onClose: (info) => {
			w.closes.push(info);
			if (!reconnected) {
				reconnected = true;
				w.client.connect(CONNECT);
			}
		},
	});
	const old = w.net.last;
	// The old connection's last chunk: DISCONNECT, then a CONNACK and a PUBLISH that belong to it.
	old.receive([{ type: "disconnect", reasonCode: 0x8e }, connack(), publishFromBroker("late", "x", 0)]);
	t.is(w.closes.length, 1, JSON.stringify(w.closes.map((c) => c.code)));
	t.is(w.client.state, "connecting");
	t.deepEqual(w.messages, []);
	// The new connection proceeds normally.
	w.net.last.open();
	w.net.last.receive(connack());
	t.true(w.client.connected);
	t.is(w.connects.length, 2);
});

/* ----------------------------------------------------------------------------------------- */
/* Subscribe, disconnect, close                                                               */

test("subscribe: SUBSCRIBE contents, SUBACK codes delivered, 0x80 failure warned", (t) => {
	const w = connected(t);
	const o = w.client.subscribe([{ topic: "cmd/42/+", qos: 1 }, { topic: "acl/denied/#", qos: 2 }]);
	t.true(o.ok);
	const s = only(t, w.net.last.take(), "subscribe") as SubscribePacket;
	t.deepEqual(s.subscriptions, [{ topic: "cmd/42/+", qos: 1 }, { topic: "acl/denied/#", qos: 2 }]);
	t.true(o.ok && s.id === o.id);
	w.net.last.receive({ type: "suback", id: s.id, reasonCodes: [1, 0x80] });
	t.deepEqual(w.subscribed, [{ id: s.id, codes: [1, 0x80], topics: ["cmd/42/+", "acl/denied/#"] }]);
	t.is(w.warnings.length, 1);
	t.is(w.warnings[0].reasonCode, 0x80);
	t.regex(w.warnings[0].message, /acl\/denied\/#/);
	t.regex(w.warnings[0].code, /^[a-z_]+$/, "a stable machine code, without the topic in it");
	t.truthy(w.warnings[0].fix);
	t.true(w.client.connected);
	// Invalid filters are refused locally.
	const bad = w.client.subscribe({ topic: "a/#/b", qos: 0 });
	t.false(bad.ok);
	t.deepEqual(w.net.last.take(), []);
	// Unsubscribe.
	const u = w.client.unsubscribe("cmd/42/+");
	t.true(u.ok);
	const us = only(t, w.net.last.take(), "unsubscribe");
	t.deepEqual(us.topics, ["cmd/42/+"]);
	w.net.last.receive({ type: "unsuback", id: us.id });
	t.deepEqual(w.unsubscribed, [{ id: us.id, codes: [] }]);
});

test("v5 subscribe options and SUBACK failure codes", (t) => {
	const w = connected(t, { protocolVersion: 5 });
	w.client.subscribe({ topic: "cmd/#", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 });
	const s = only(t, w.net.last.take(), "subscribe") as SubscribePacket;
	t.deepEqual(s.subscriptions, [{ topic: "cmd/#", qos: 1, noLocal: true, retainAsPublished: true, retainHandling: 2 }]);
	w.net.last.receive({ type: "suback", id: s.id, reasonCodes: [0x87] });
	t.is(w.warnings[0].code, "not_authorized");
	t.deepEqual(w.subscribed[0].codes, [0x87]);
});

test("disconnect(): DISCONNECT written, then the transport closed, client_disconnect", (t) => {
	for (const version of [4, 5] as const) {
		const w = connected(t, { protocolVersion: version });
		w.client.disconnect();
		t.deepEqual(w.net.last.take(), [{ type: "disconnect", ...(version === 5 ? { reasonCode: 0 } : {}) }]);
		t.true(w.net.last.closedByClient);
		t.is(w.client.state, "disconnected");
		t.is(w.closes.length, 1);
		t.is(w.closes[0].code, "client_disconnect");
		t.true(w.closes[0].wasConnected);
	}
	// Under backpressure the close waits for the DISCONNECT to be written.
	const w = connected(t);
	w.net.last.room = 0;
	w.client.disconnect();
	t.false(w.net.last.closedByClient);
	t.deepEqual(w.closes, []);
	w.net.last.drain();
	t.deepEqual(w.net.last.take(), [{ type: "disconnect" }]);
	t.true(w.net.last.closedByClient);
	t.is(w.closes[0]?.code, "client_disconnect");
});

test("close(): no DISCONNECT, transport closed, client_close", (t) => {
	const w = connected(t);
	w.client.close();
	t.deepEqual(w.net.last.take(), []);
	t.true(w.net.last.closedByClient);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "client_close");
	t.true(w.closes[0].wasConnected);
	t.false(w.client.publish("x", "y").ok);
	// A close of a connection attempt is not "connected".
	const w2 = world();
	w2.client.connect(CONNECT);
	w2.client.close();
	t.false(w2.closes[0].wasConnected);
	t.true(w2.net.last.closedByClient);
});

test("an application callback that throws is warned about and does not break the stream", (t) => {
	let calls = 0;
	const w = connected(t, {
		onDelivered: () => {
			calls++;
			throw new Error("app bug");
		},
	});
	const a = w.client.publish("t/a", "1", { qos: 1 });
	const b = w.client.publish("t/b", "2", { qos: 1 });
	t.true(a.ok && b.ok);
	w.net.last.take();
	// Both acknowledgements and a message arrive in one chunk: the first callback's exception
	// must not lose the rest.
	w.net.last.receive([
		{ type: "puback", id: a.ok ? a.id : 0 },
		{ type: "puback", id: b.ok ? b.id : 0 },
		publishFromBroker("in/x", "hello", 0),
	]);
	t.is(calls, 2);
	t.is(w.messages.length, 1);
	t.is(w.client.inflight, 0);
	t.true(w.warnings.some((d) => d.code === "callback_error" && /onDelivered threw: app bug/.test(d.message)));
	t.true(w.client.connected);
});

test("incoming QoS 2 awaiting PUBREL survives a resumed session: the resent PUBLISH is not delivered twice", (t) => {
	const w = connected(t, {}, { cleanStart: false });
	w.net.last.receive(publishFromBroker("in/q2", "once", 2, 9));
	t.is(w.messages.length, 1);
	t.deepEqual(w.net.last.take(), [{ type: "pubrec", id: 9 }]);
	w.net.last.hangUp();
	w.client.connect({ ...CONNECT, cleanStart: false });
	w.net.last.open();
	w.net.last.receive(connack({ sessionPresent: true }));
	w.net.last.take();
	w.net.last.receive(publishFromBroker("in/q2", "once", 2, 9, { dup: true }));
	t.is(w.messages.length, 1, "not delivered again");
	t.deepEqual(w.net.last.take(), [{ type: "pubrec", id: 9 }]);
	w.net.last.receive({ type: "pubrel", id: 9 });
	t.deepEqual(w.net.last.take(), [{ type: "pubcomp", id: 9 }]);
	// A new session forgets it: the same id is a new message.
	w.net.last.hangUp();
	w.client.connect({ ...CONNECT, cleanStart: true });
	w.net.last.open();
	w.net.last.receive(connack({ sessionPresent: false }));
	w.net.last.receive(publishFromBroker("in/q2", "fresh", 2, 9));
	t.is(w.messages.length, 2);
});

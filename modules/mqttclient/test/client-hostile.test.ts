import test, { type ExecutionContext } from "ava";
import { encode } from "mqttclient/codec";
import type { AckPacket, ConnackPacket, Properties, ProtocolVersion, PublishPacket } from "mqttclient/packets";
import { connack, connected, publishFromBroker, world, CONNECT, type World } from "./fake";

/*
 * Rule 1: no input from the network may throw out of the client; every bad packet becomes a
 * protocol-error disconnect with a diagnostic.
 * Rule 8: MQTT 5 limits from the broker (CONNACK properties) are obeyed, not ignored.
 */

/** The bytes of a PUBLISH, built by hand so that it can be invalid (id 0, QoS 3, any size). */
function rawPublish(version: ProtocolVersion, o: { qos: number; id?: number; topic?: string; total?: number; payload?: number }): Uint8Array {
	const topic = Buffer.from(o.topic ?? "cmd/big");
	const head = [topic.length >> 8, topic.length & 0xff, ...topic];
	if (o.qos > 0) head.push((o.id ?? 1) >> 8, (o.id ?? 1) & 0xff);
	if (version === 5) head.push(0);
	// Remaining length of 2 bytes for bodies 128..16383.
	const payload = o.payload ?? (o.total !== undefined ? o.total - 3 - head.length : 10);
	const remaining = head.length + payload;
	const length = remaining < 128 ? [remaining] : [(remaining % 128) | 0x80, Math.floor(remaining / 128)];
	const bytes = new Uint8Array(1 + length.length + remaining);
	bytes.set([0x30 | (o.qos << 1), ...length, ...head]);
	return bytes;
}

/** A packet of `type` (by its first byte) with a body of `remaining` bytes starting with `start`. */
function rawPacket(first: number, remaining: number, start: number[] = []): Uint8Array {
	const length = remaining < 128 ? [remaining] : [(remaining % 128) | 0x80, Math.floor(remaining / 128)];
	const bytes = new Uint8Array(1 + length.length + remaining);
	bytes.set([first, ...length, ...start]);
	return bytes;
}

function expectProtocolError(t: ExecutionContext, w: World, message: RegExp, reasonCode?: number): void {
	t.is(w.closes.length, 1, JSON.stringify(w.closes));
	const close = w.closes[0];
	t.is(close?.code, "protocol_error");
	t.is(close?.state, -3);
	t.regex(close?.message ?? "", message);
	t.truthy(close?.fix);
	t.true(w.net.last.closedByClient);
	const written = w.net.last.take();
	if (w.version === 5 && reasonCode !== undefined) t.deepEqual(written, [{ type: "disconnect", reasonCode }]);
	else t.deepEqual(written, []);
}

/* ----------------------------------------------------------------------------------------- */
/* Rule 1: bad packets close the connection, never throw                                      */

for (const version of [4, 5] as const) {
	for (const qos of [1, 2]) {
		test(`v${version}: an oversize QoS ${qos} PUBLISH with packet identifier 0 closes with protocol_error, no exception, no acknowledgement with id 0`, (t) => {
			const w = connected(t, { protocolVersion: version });
			const bad = rawPublish(version, { qos, id: 0, total: 1500 });
			const after = rawPublish(version, { qos: 1, id: 9, topic: "cmd/after" });
			t.notThrows(() => w.net.last.receive(Buffer.concat([bad, after])));
			expectProtocolError(t, w, /packet identifier 0/, 0x81);
			t.deepEqual(w.messages, [], "nothing after the bad packet is delivered");
			t.false(w.warnings.some((d) => d.code === "packet_too_large_inbound"), "not reported as a mere oversize message");
		});

		test(`v${version}: a QoS ${qos} PUBLISH with packet identifier 0 that fits the buffer closes the same way`, (t) => {
			const w = connected(t, { protocolVersion: version });
			t.notThrows(() => w.net.last.receive(rawPublish(version, { qos, id: 0 })));
			expectProtocolError(t, w, /packet identifier 0/, 0x81);
		});
	}

	test(`v${version}: an oversize PUBLISH with QoS 3 closes with protocol_error`, (t) => {
		const w = connected(t, { protocolVersion: version });
		t.notThrows(() => w.net.last.receive(rawPublish(version, { qos: 3, id: 5, total: 1500 })));
		expectProtocolError(t, w, /QoS 3/, 0x81);
	});

	test(`v${version}: an oversize PUBLISH whose topic is not UTF-8 closes with protocol_error`, (t) => {
		const w = connected(t, { protocolVersion: version });
		const bytes = rawPublish(version, { qos: 1, id: 5, total: 1500 });
		bytes[5] = 0xc3;
		bytes[6] = 0x28;
		t.notThrows(() => w.net.last.receive(bytes));
		expectProtocolError(t, w, /UTF-8/, 0x81);
	});

	test(`v${version}: an oversize packet other than PUBLISH (it cannot be processed) closes with protocol_error`, (t) => {
		for (const [first, start, name] of [[0x90, [0, 1], "SUBACK"], [0x40, [0, 1], "PUBACK"], [0x62, [0, 1], "PUBREL"], [0xb0, [0, 1], "UNSUBACK"], [0xe0, [0x8b], "DISCONNECT"]] as const) {
			const w = connected(t, { protocolVersion: version });
			t.notThrows(() => w.net.last.receive(rawPacket(first, 1500, [...start])));
			expectProtocolError(t, w, new RegExp(`${name} of 1503 bytes`), 0x95);
		}
		// Before CONNACK too: a CONNACK too large to read is not a connect timeout.
		const w = world({ protocolVersion: version });
		w.client.connect(CONNECT);
		w.net.last.open();
		w.net.last.take();
		t.notThrows(() => w.net.last.receive(rawPacket(0x20, 1500, [0, 0])));
		t.is(w.closes[0]?.code, "protocol_error");
		t.regex(w.closes[0]?.message ?? "", /CONNACK of 1503 bytes/);
		t.false(w.closes[0]?.wasConnected);
	});

	test(`v${version}: an oversize packet with reserved fixed-header flags closes with protocol_error`, (t) => {
		const w = connected(t, { protocolVersion: version });
		t.notThrows(() => w.net.last.receive(rawPacket(0x93, 1500, [0, 1])));
		expectProtocolError(t, w, /flags/, 0x81);
	});

	test(`v${version}: a PUBLISH from the broker with a wildcard or an empty topic closes with protocol_error`, (t) => {
		for (const topic of ["cmd/+", "cmd/#", ""]) {
			const w = connected(t, { protocolVersion: version });
			t.notThrows(() => w.net.last.receive(rawPublish(version, { qos: 0, topic })));
			t.deepEqual(w.messages, []);
			expectProtocolError(t, w, /topic/, 0x82);
		}
	});

	test(`v${version}: a SUBACK with another number of codes than filters, or a reserved code, closes with protocol_error`, (t) => {
		const cases: [number[], RegExp][] = [[[1], /1 return code.* 2 topic filters|2 topic filters/], [[1, 0, 0], /3 .*2 topic filters/], [[1, version === 4 ? 3 : 0x7f], /reserved|not a valid/]];
		for (const [codes, message] of cases) {
			const w = connected(t, { protocolVersion: version });
			const o = w.client.subscribe([{ topic: "a/#", qos: 1 }, { topic: "b/#", qos: 1 }]);
			const id = o.ok ? o.id : 0;
			w.net.last.take();
			t.notThrows(() => w.net.last.receive(encode({ type: "suback", id, reasonCodes: codes }, version)));
			t.deepEqual(w.subscribed, []);
			expectProtocolError(t, w, message, 0x82);
		}
	});

	test(`v${version}: CONNACK with Session Present after a clean start closes with protocol_error`, (t) => {
		const w = world({ protocolVersion: version });
		w.client.connect({ ...CONNECT, cleanStart: true });
		w.net.last.open();
		w.net.last.take();
		t.notThrows(() => w.net.last.receive(connack({ sessionPresent: true })));
		t.deepEqual(w.connects, []);
		expectProtocolError(t, w, /[Ss]ession [Pp]resent/, 0x82);
		t.false(w.closes[0].wasConnected);
		// Without a clean start it is the resumed session.
		const w2 = world({ protocolVersion: version });
		w2.client.connect({ ...CONNECT, cleanStart: false });
		w2.net.last.open();
		w2.net.last.receive(connack({ sessionPresent: true }));
		t.true(w2.client.connected);
	});

	test(`v${version}: a thenable whose then() throws does not escape into the transport`, (t) => {
		const w = connected(t, { protocolVersion: version, onMessage: () => ({ then() { throw new Error("bad thenable"); } }) });
		t.notThrows(() => w.net.last.receive(publishFromBroker("cmd/1", "x", 1, 4)));
		t.true(w.client.connected);
		t.true(w.warnings.some((d) => d.code === "handler_error" && /bad thenable/.test(d.message)));
		t.deepEqual(w.net.last.take().map((p) => [p.type, (p as AckPacket).id]), [["puback", 4]]);
	});
}

test("v5: a PUBREL for an unknown packet id is answered PUBCOMP 0x92 (Packet Identifier not found)", (t) => {
	const w = connected(t, { protocolVersion: 5 });
	w.net.last.receive({ type: "pubrel", id: 321 });
	t.deepEqual(w.net.last.take(), [{ type: "pubcomp", id: 321, reasonCode: 0x92 }]);
	t.true(w.client.connected);
});

test("v5: more unacknowledged QoS 1/2 messages than our Receive Maximum closes with DISCONNECT 0x93", (t) => {
	// QoS 1 whose handler has not finished.
	const w = connected(t, { protocolVersion: 5, inflightWindow: 4, onMessage: () => new Promise(() => {}) });
	for (let id = 1; id <= 4; id++) w.net.last.receive(publishFromBroker("cmd/q1", "x", 1, id));
	t.true(w.client.connected);
	t.notThrows(() => w.net.last.receive(publishFromBroker("cmd/q1", "x", 1, 5)));
	expectProtocolError(t, w, /Receive Maximum/, 0x93);
	// QoS 2 awaiting PUBREL.
	const w2 = connected(t, { protocolVersion: 5, inflightWindow: 4 });
	for (let id = 1; id <= 4; id++) w2.net.last.receive(publishFromBroker("cmd/q2", "x", 2, id));
	// A PUBREL frees a slot.
	w2.net.last.receive({ type: "pubrel", id: 1 });
	w2.net.last.receive(publishFromBroker("cmd/q2", "x", 2, 5));
	t.true(w2.client.connected);
	// A redelivery of an id already counted is not a new message.
	w2.net.last.receive(publishFromBroker("cmd/q2", "x", 2, 5, { dup: true }));
	t.true(w2.client.connected);
	w2.net.last.receive(publishFromBroker("cmd/q2", "x", 2, 6));
	t.is(w2.closes[0]?.code, "protocol_error");
	t.regex(w2.closes[0]?.message ?? "", /Receive Maximum/);
});

test("v4: incoming QoS 2 messages left without PUBREL are bounded (256), then protocol_error", (t) => {
	const w = connected(t, { protocolVersion: 4 });
	for (let id = 1; id <= 256; id++) w.net.last.receive(publishFromBroker("cmd/q2", "x", 2, id));
	t.true(w.client.connected);
	t.notThrows(() => w.net.last.receive(publishFromBroker("cmd/q2", "x", 2, 257)));
	t.is(w.closes[0]?.code, "protocol_error");
	t.regex(w.closes[0]?.message ?? "", /256/);
});

/* ----------------------------------------------------------------------------------------- */
/* Rule 8: MQTT 5 limits from CONNACK                                                         */

/** Connects a v5 client and answers with a CONNACK carrying `properties` (encoded by our codec, which allows invalid values). */
function connackWith(t: ExecutionContext, properties: Properties, options: Parameters<typeof world>[0] = {}): World {
	const w = world({ protocolVersion: 5, ...options });
	t.true(w.client.connect(CONNECT).ok);
	w.net.last.open();
	w.net.last.take();
	const packet: ConnackPacket = { type: "connack", sessionPresent: false, reasonCode: 0, properties };
	t.notThrows(() => w.net.last.receive(encode(packet, 5)));
	return w;
}

test("v5: CONNACK Receive Maximum 0 is a protocol error: DISCONNECT 0x82, a diagnostic, never connected", (t) => {
	const w = connackWith(t, { receiveMaximum: 0 });
	t.deepEqual(w.connects, []);
	t.false(w.client.connected);
	expectProtocolError(t, w, /Receive Maximum 0/, 0x82);
	t.false(w.closes[0].wasConnected);
});

test("v5: invalid CONNACK limits are protocol errors (Maximum QoS 2, Retain Available 2, Maximum Packet Size 0, ...)", (t) => {
	const cases: [Properties, RegExp][] = [
		[{ maximumQoS: 2 }, /Maximum QoS 2/],
		[{ maximumQoS: 255 }, /Maximum QoS 255/],
		[{ retainAvailable: 2 }, /Retain Available 2/],
		[{ maximumPacketSize: 0 }, /Maximum Packet Size 0/],
		[{ wildcardSubscriptionAvailable: 7 }, /Wildcard Subscription Available 7/],
		[{ subscriptionIdentifierAvailable: 2 }, /Subscription Identifier/],
		[{ sharedSubscriptionAvailable: 9 }, /Shared Subscription/],
	];
	for (const [properties, message] of cases) {
		const w = connackWith(t, properties);
		t.deepEqual(w.connects, [], JSON.stringify(properties));
		expectProtocolError(t, w, message, 0x82);
	}
});

test("v5: Maximum QoS 0: QoS 1 and 2 messages are sent at QoS 0, with one qos_downgraded warning", (t) => {
	const w = connackWith(t, { maximumQoS: 0 });
	t.true(w.client.connected);
	t.true(w.client.canPublish(1));
	for (let i = 0; i < 20; i++) {
		const o = w.client.publish("s/t", `${i}`, { qos: ((i % 2) + 1) as 1 | 2 });
		t.true(o.ok, JSON.stringify(o));
		if (o.ok) t.is(o.qos, 0);
	}
	const sent = w.net.last.take() as PublishPacket[];
	t.is(sent.length, 20);
	t.true(sent.every((p) => p.type === "publish" && p.qos === 0 && p.id === undefined));
	t.is(w.client.inflight, 0, "nothing waits for an acknowledgement that will not come");
	const warnings = w.warnings.filter((d) => d.code === "qos_downgraded");
	t.is(warnings.length, 1, "one warning, not one per message");
	t.regex(warnings[0].message, /QoS 0/);
	t.truthy(warnings[0].fix);
	t.is(w.warnings.length, 1);
});

test("v5: Maximum QoS 1: QoS 2 messages are sent at QoS 1 and complete with PUBACK; QoS 1 unchanged", (t) => {
	const w = connackWith(t, { maximumQoS: 1 });
	const o2 = w.client.publish("s/t", "two", { qos: 2 });
	const o1 = w.client.publish("s/t", "one", { qos: 1 });
	t.true(o2.ok && o2.qos === 1 && o1.ok && o1.qos === 1);
	const sent = w.net.last.take() as PublishPacket[];
	t.deepEqual(sent.map((p) => p.qos), [1, 1]);
	for (const p of sent) w.net.last.receive({ type: "puback", id: p.id! });
	t.deepEqual(w.delivered.map(([id]) => id), sent.map((p) => p.id));
	t.is(w.client.inflight, 0);
	t.is(w.warnings.filter((d) => d.code === "qos_downgraded").length, 1);
	t.regex(w.warnings[0].message, /QoS 1/);
});

test("v5: a reconnect to a broker with Maximum QoS 0 sends the QoS 1 messages still in flight at QoS 0", (t) => {
	const w = connected(t, { protocolVersion: 5 });
	const ids: number[] = [];
	for (const text of ["a", "b"]) {
		const o = w.client.publish("r/t", text, { qos: 1 });
		if (o.ok) ids.push(o.id);
	}
	w.net.last.hangUp();
	t.is(w.client.inflight, 2);
	w.client.connect(CONNECT);
	w.net.last.open();
	w.net.last.receive(encode({ type: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 0 } }, 5));
	t.true(w.client.connected);
	const sent = w.net.last.take().filter((p): p is PublishPacket => p.type === "publish");
	t.deepEqual(sent.map((p) => [Buffer.from(p.payload).toString(), p.qos, p.id]), [["a", 0, undefined], ["b", 0, undefined]]);
	t.is(w.client.inflight, 0);
	t.deepEqual(w.delivered, ids.map((id) => [id, 0]));
	t.is(w.warnings.filter((d) => d.code === "qos_downgraded").length, 1);
});

test("v5: the broker's Receive Maximum bounds the in-flight window", (t) => {
	const w = connackWith(t, { receiveMaximum: 2 });
	t.true(w.client.publish("s/t", "1", { qos: 1 }).ok);
	t.true(w.client.publish("s/t", "2", { qos: 1 }).ok);
	t.false(w.client.canPublish(1));
	const o = w.client.publish("s/t", "3", { qos: 1 });
	t.false(o.ok);
	if (!o.ok) t.is(o.error.code, "inflight_full");
	t.true(w.client.publish("s/t", "q0", { qos: 0 }).ok);
});

test("v5: CONNACK 0x9B (QoS not supported) and 0x9A (Retain not supported) name the will", (t) => {
	for (const [rc, code] of [[0x9b, "qos_not_supported"], [0x9a, "retain_not_supported"]] as const) {
		const w = world({ protocolVersion: 5 });
		w.client.connect({ ...CONNECT, will: { topic: "s/status", payload: "offline", qos: 1, retain: true } });
		w.net.last.open();
		w.net.last.receive(connack({ reasonCode: rc }));
		t.is(w.closes[0]?.code, code);
		t.regex(w.closes[0]?.fix ?? "", /will/);
	}
});

/*
 * The publish hot path (docs/benchmarks.md): encodePublish against the general encoder, the
 * decoder's in-place acknowledgements against the general path, and the client's topic cache.
 */

import test from "ava";
import { Decoder, encodePublish, encodeWithin, mqttString, type CodecError } from "mqttclient/codec";
import type { Packet, ProtocolVersion, PublishPacket, QoS } from "mqttclient/packets";
import { utf8Encode } from "bytes";
import { CONNECT, connack, connected, only, publishFromBroker, world } from "./fake";
import { mpEncode } from "./oracle";

function rng(seed: number): () => number {
	let s = seed >>> 0;
	return () => {
		s = (s * 1664525 + 1013904223) >>> 0;
		return s / 4294967296;
	};
}

test("encodePublish gives the bytes encode() gives, across varint boundaries, QoS, retain and both versions", (t) => {
	const random = rng(7);
	const topics = ["a", "sensors/x/telemetry", "d\u00e9j\u00e0/vu", "emoji/\u{1f600}", "x".repeat(300)];
	// Payload sizes around the remaining-length boundaries 127/128 and 16383/16384.
	const sizes = [0, 1, 80, 120, 121, 122, 123, 124, 125, 126, 127, 128, 200, 16_370, 16_380, 16_383, 16_384, 16_400];
	let checked = 0;
	for (const version of [4, 5] as ProtocolVersion[]) {
		for (const topic of topics) {
			for (const size of sizes) {
				const qos = Math.floor(random() * 3) as QoS;
				const retain = random() < 0.5;
				const payload = new Uint8Array(size).map(() => Math.floor(random() * 256));
				const id = qos ? 1 + Math.floor(random() * 65535) : 0;
				const packet: PublishPacket = { type: "publish", topic, payload, qos, retain, dup: false };
				if (qos) packet.id = id;
				// The general path (encodeWithin with no limit: the Writer), not encode(), which now uses encodePublish.
				const expected = encodeWithin(packet, version, Infinity);
				const fast = encodePublish(mqttString(utf8Encode(topic)), payload, qos, retain, id, version === 5, Infinity);
				t.deepEqual(fast, expected, `v${version} ${topic.slice(0, 20)} ${size} bytes QoS ${qos}`);
				checked++;
			}
		}
	}
	t.is(checked, 2 * topics.length * sizes.length);
});

test("encodePublish returns the size, allocating nothing, when the packet is over the limit (one, two and three length bytes)", (t) => {
	const topic = mqttString(utf8Encode("sensors/x/telemetry"));
	for (const length of [50, 1000, 20_000]) {
		const payload = new Uint8Array(length);
		const exact = encodePublish(topic, payload, 1, false, 9, false, Infinity);
		t.true(exact instanceof Uint8Array);
		const size = (exact as Uint8Array).length;
		t.is(encodePublish(topic, payload, 1, false, 9, false, size - 1), size);
		t.true(encodePublish(topic, payload, 1, false, 9, false, size) instanceof Uint8Array);
	}
});

test("encodePublish writes every byte of the memory it is given (a pool slice full of old bytes)", (t) => {
	const random = rng(11);
	const pool = new Uint8Array(64 * 1024);
	let at = 0;
	const allocate = (size: number): Uint8Array => {
		if (at + size > pool.length) at = 0;
		const slice = pool.subarray(at, at + size).fill(0xa5);
		at += size;
		return slice;
	};
	for (const version of [4, 5] as ProtocolVersion[]) {
		for (const size of [0, 1, 100, 127, 128, 16_383, 16_384, 20_000]) {
			const qos = Math.floor(random() * 3) as QoS;
			const payload = new Uint8Array(size).map(() => Math.floor(random() * 256));
			const id = qos ? 1 + Math.floor(random() * 65535) : 0;
			const packet: PublishPacket = { type: "publish", topic: "sensors/x/telemetry", payload, qos, retain: random() < 0.5, dup: false };
			if (qos) packet.id = id;
			const pooled = encodePublish(mqttString(utf8Encode(packet.topic)), payload, qos, packet.retain, id, version === 5, Infinity, allocate);
			t.deepEqual(pooled, encodeWithin(packet, version, Infinity), `v${version} ${size} bytes`);
		}
	}
});

test("the client encodes PUBLISH into the transport's allocate when it has one, and nowhere else", (t) => {
	const w = world();
	const given: Uint8Array[] = [];
	w.net.allocate = (size) => {
		const bytes = new Uint8Array(size).fill(0xee);
		given.push(bytes);
		return bytes;
	};
	t.true(w.client.connect(CONNECT).ok);
	w.net.last.open();
	w.net.last.receive(connack());
	w.net.last.forget();
	t.true(w.client.publish("s/t", "hello", { qos: 1 }).ok);
	t.true(w.client.publish("s/t", new Uint8Array(300)).ok);
	t.true(w.client.subscribe({ topic: "cmd/#", qos: 1 }).ok);
	t.is(given.length, 2, "the two PUBLISH packets, not the SUBSCRIBE");
	const sent = w.net.last.take();
	t.deepEqual(sent.map((p) => p.type), ["publish", "publish", "subscribe"]);
	// What went out is what was written into the transport's memory.
	t.deepEqual(w.net.last.chunks[0], given[0]);
	t.deepEqual(w.net.last.chunks[1], given[1]);
});

function decodeAll(chunks: Uint8Array[], version: ProtocolVersion = 4): { packets: Packet[]; errors: CodecError[] } {
	const packets: Packet[] = [];
	const errors: CodecError[] = [];
	const d = new Decoder({ maxPacketSize: 1024, protocolVersion: version, onPacket: (p) => packets.push(p), onError: (e) => errors.push(e), onOversize: () => {} });
	for (const c of chunks) d.push(c);
	return { packets, errors };
}

test("acknowledgements decoded in place equal the general path's, whole, split across chunks, or among other packets", (t) => {
	const acks: Packet[] = [
		{ type: "puback", id: 1 },
		{ type: "pubrec", id: 0x1234 },
		{ type: "pubrel", id: 0xffff },
		{ type: "pubcomp", id: 258 },
	];
	const publish = publishFromBroker("a/b", "hello", 1, 77);
	const stream = Buffer.concat([...acks.map((p) => mpEncode(p, 4)), mpEncode(publish, 4), mpEncode({ type: "puback", id: 5 }, 4)]);
	const whole = decodeAll([stream]);
	t.deepEqual(whole.errors, []);
	t.deepEqual(whole.packets.slice(0, 4), acks);
	t.is(whole.packets[4].type, "publish");
	t.deepEqual(whole.packets[5], { type: "puback", id: 5 });
	// Every split point gives the same packets (the in-place path only takes whole acknowledgements).
	for (let cut = 1; cut < stream.length; cut++) {
		const split = decodeAll([stream.subarray(0, cut), stream.subarray(cut)]);
		t.deepEqual(split.packets, whole.packets, `cut at ${cut}`);
	}
	// One byte at a time.
	t.deepEqual(decodeAll([...stream].map((b) => Uint8Array.of(b))).packets, whole.packets);
});

test("an acknowledgement with packet identifier 0 is malformed on the in-place path too", (t) => {
	const { packets, errors } = decodeAll([Uint8Array.of(0x40, 2, 0, 0, 0x40, 2, 0, 1)]);
	t.deepEqual(packets, []);
	t.is(errors.length, 1);
	t.regex(errors[0].message, /packet identifier 0/);
});

test("a 5.0 acknowledgement with a reason code still goes through the general path", (t) => {
	const { packets, errors } = decodeAll([Uint8Array.of(0x40, 3, 0, 9, 0x10)], 5);
	t.deepEqual(errors, []);
	t.deepEqual(packets, [{ type: "puback", id: 9, reasonCode: 0x10 }]);
});

test("the topic cache: more topics than it holds publish correctly, and a bad topic is still refused", (t) => {
	const w = connected(t);
	w.net.last.forget();
	for (let round = 0; round < 3; round++) {
		for (let i = 0; i < 20; i++) {
			const topic = `sensors/s${i}/t\u00e9l\u00e9m\u00e9trie`;
			const outcome = w.client.publish(topic, `m${round}-${i}`, { qos: 0 });
			t.true(outcome.ok, topic);
			const p = only(t, w.net.last.take(), "publish");
			t.is(p.topic, topic);
			t.is(Buffer.from(p.payload).toString(), `m${round}-${i}`);
		}
		const bad = w.client.publish("sensors/+/t", "x");
		t.false(bad.ok);
		if (!bad.ok) t.is(bad.error.code, "invalid_topic");
	}
	const empty = w.client.publish("", "x");
	t.false(empty.ok);
	// A topic of 70000 bytes (fewer UTF-16 units than bytes) is refused, not sent.
	const long = w.client.publish("\u00e9".repeat(35_000), "x");
	t.false(long.ok);
	if (!long.ok) t.is(long.error.code, "invalid_topic");
	t.deepEqual(w.net.last.take(), []);
});

test("packet_too_large is still refused before anything is sent, on the hot path", (t) => {
	const w = connected(t, { bufferSize: 256 });
	w.net.last.forget();
	const outcome = w.client.publish("a/b", new Uint8Array(300), { qos: 1 });
	t.false(outcome.ok);
	if (!outcome.ok) t.is(outcome.error.code, "packet_too_large");
	t.is(w.client.inflight, 0);
	t.deepEqual(w.net.last.take(), []);
	t.true(w.client.publish("a/b", new Uint8Array(200), { qos: 1 }).ok);
});

/** Connects a world whose transports have the given TLS-like overhead per write. */
function connectedWith(t: Parameters<typeof connected>[0], writeOverhead: number): ReturnType<typeof world> {
	const w = world();
	w.net.writeOverhead = writeOverhead;
	t.true(w.client.connect({ ...CONNECT }).ok);
	w.net.last.open();
	w.net.last.receive(connack());
	t.true(w.client.connected);
	w.net.last.forget();
	return w;
}

for (const overhead of [0, 40]) {
	test(`the room counted down locally never writes past the transport's room (write overhead ${overhead})`, (t) => {
		const w = connectedWith(t, overhead);
		const tr = w.net.last;
		const payload = new Uint8Array(250).fill(0x61);
		let accepted = 0;
		let busy = 0;
		for (let round = 0; round < 40; round++) {
			// Room appears without onWritable, as a socket's send buffer grows when ACKs arrive.
			tr.room = 700 + 97 * (round % 9);
			let published = 0;
			for (let i = 0; i < 12; i++) {
				const outcome = w.client.publish("sensors/room/telemetry", payload, { qos: 0 });
				if (outcome.ok) {
					accepted++;
					published++;
				}
				else {
					t.is(outcome.error.code, "busy");
					busy++;
					break;
				}
			}
			t.is(tr.overWrites, 0);
			t.true(published > 0);
			tr.drain(1 << 20);
		}
		t.is(tr.overWrites, 0);
		t.true(busy > 0, "the room ran out and publish said busy");
		const packets = tr.take();
		t.is(packets.filter((p) => p.type === "publish").length, accepted);
	});
}

test("the counted room is asked again when short: room that grew silently is used, not reported busy", (t) => {
	const w = connectedWith(t, 0);
	const tr = w.net.last;
	tr.room = 10_000;
	tr.asked = 0;
	const payload = new Uint8Array(250);
	for (let i = 0; i < 38; i++) t.true(w.client.publish("a/b", payload).ok);
	// 38 packets of 257 bytes: the first answer (10,000) covered all of them, asked once.
	t.is(tr.asked, 1);
	t.true(tr.room < 300);
	// The socket's buffer drained without an event: the next publish asks and goes straight out.
	tr.room = 5_000;
	t.true(w.client.publish("a/b", payload).ok);
	t.is(tr.asked, 2);
	t.is(w.client.queuedBytes, 0);
	t.is(tr.overWrites, 0);
	t.is(tr.take().length, 39);
});

test("after onWritable the room is asked again, and the queue drains within it", (t) => {
	const w = connectedWith(t, 0);
	const tr = w.net.last;
	tr.room = 600;
	const payload = new Uint8Array(250);
	t.true(w.client.publish("a/b", payload).ok);
	t.true(w.client.publish("a/b", payload).ok);
	// The third does not fit (600 - 2 * 257): it waits in the queue.
	t.true(w.client.publish("a/b", payload).ok);
	t.true(w.client.queuedBytes > 0);
	tr.drain(300);
	t.is(w.client.queuedBytes, 0);
	t.is(tr.overWrites, 0);
	t.is(tr.take().length, 3);
});

test("messages in flight (kept as their bytes) are redelivered in order on reconnect, with topic, payload, retain and 5.0 properties, within a smaller window", (t) => {
	const w = connected(t, { protocolVersion: 5 }, { cleanStart: false });
	const ids: number[] = [];
	for (let i = 0; i < 8; i++) {
		const o = w.client.publish(`r/${i}`, `m${i}`, { qos: 1, retain: i % 2 === 1, properties: i === 3 ? { contentType: "text/plain" } : undefined });
		t.true(o.ok);
		if (o.ok) ids.push(o.id);
	}
	t.is(w.net.last.take().length, 8);
	w.net.last.hangUp();
	t.true(w.client.connect({ ...CONNECT, cleanStart: false }).ok);
	w.net.last.open();
	// The resumed session's broker allows 3 in flight: 3 go now, the rest one per PUBACK, in order.
	w.net.last.receive(connack({ sessionPresent: true, properties: { receiveMaximum: 3 } }));
	const seen: PublishPacket[] = [];
	const take = () => {
		for (const p of w.net.last.take()) if (p.type === "publish") seen.push(p);
	};
	take();
	t.is(seen.length, 3);
	for (let k = 0; k < 8; k++) {
		w.net.last.receive({ type: "puback", id: seen[k].id! });
		take();
		t.true(seen.length <= Math.min(8, k + 4), `at most 3 in flight after ${k + 1} PUBACKs`);
	}
	t.deepEqual(seen.map((p) => [p.id, p.topic, Buffer.from(p.payload).toString(), p.retain, p.dup, p.qos]),
		ids.map((id, i) => [id, `r/${i}`, `m${i}`, i % 2 === 1, true, 1]));
	t.is(seen[3].properties?.contentType, "text/plain");
	t.deepEqual(w.delivered.map(([id]) => id), ids);
	t.is(w.client.inflight, 0);
});

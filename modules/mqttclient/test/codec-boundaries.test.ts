import test from "ava";
import mqttPacket from "mqtt-packet";
import { isDeepStrictEqual } from "node:util";
import { CodecError, Decoder, decodePacket, encode, MAX_REMAINING_LENGTH, packetSize, varintSize, type OversizeInfo } from "mqttclient/codec";
import type { Packet, ProtocolVersion, PublishPacket } from "mqttclient/packets";
import { canon, mpEncode, Rand, randomPacket } from "./oracle";

/*
 * Edges of the wire format: remaining-length varints, malformed input, chunking, and the
 * decoder's size bound. Expected bytes are written out from the specification (1.5.5, 2.1, 2.2).
 */

/** MQTT 3.1.1 / 5.0 table "Size of Variable Byte Integer": value -> encoding. */
const VARINTS: [number, number[]][] = [
	[0, [0x00]],
	[127, [0x7f]],
	[128, [0x80, 0x01]],
	[16_383, [0xff, 0x7f]],
	[16_384, [0x80, 0x80, 0x01]],
	[2_097_151, [0xff, 0xff, 0x7f]],
	[2_097_152, [0x80, 0x80, 0x80, 0x01]],
	[268_435_455, [0xff, 0xff, 0xff, 0x7f]],
];

interface Collected {
	packets: Packet[];
	errors: CodecError[];
	oversize: OversizeInfo[];
	thrown: unknown[];
	decoder: Decoder;
	push(bytes: Uint8Array | number[]): void;
}

function collector(maxPacketSize: number, protocolVersion: ProtocolVersion): Collected {
	const c: Collected = {
		packets: [],
		errors: [],
		oversize: [],
		thrown: [],
		decoder: undefined as unknown as Decoder,
		push(bytes) {
			try {
				c.decoder.push(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes));
			}
			catch (e) {
				c.thrown.push(e);
			}
		},
	};
	c.decoder = new Decoder({
		maxPacketSize,
		protocolVersion,
		onPacket: (p) => c.packets.push(p),
		onError: (e) => c.errors.push(e),
		onOversize: (i) => c.oversize.push(i),
	});
	return c;
}

/** A 3.1.1 QoS 0 PUBLISH to "t" whose remaining length is exactly `remaining` (>= 3). */
function publishWithRemaining(remaining: number): PublishPacket {
	return { type: "publish", topic: "t", payload: new Uint8Array(remaining - 3).fill(0x5a), qos: 0, retain: false, dup: false };
}

test("varintSize matches the specification's table", (t) => {
	for (const [value, bytes] of VARINTS) t.is(varintSize(value), bytes.length, String(value));
	t.is(MAX_REMAINING_LENGTH, 268_435_455);
});

test("remaining length is encoded with the specification's bytes up to 2097152 (and as mqtt-packet does)", (t) => {
	t.deepEqual([...encode({ type: "pingreq" }, 4)], [0xc0, 0x00]);
	for (const [value, bytes] of VARINTS) {
		if (value < 3 || value > 2_097_152) continue;
		const p = publishWithRemaining(value);
		const out = encode(p, 4);
		t.is(out.length, 1 + bytes.length + value, `total size for ${value}`);
		t.deepEqual([...out.subarray(0, 1 + bytes.length)], [0x30, ...bytes], `header for ${value}`);
		t.is(packetSize(p, 4), out.length);
		// A 3.1.1 QoS 0 PUBLISH has exactly one encoding: mqtt-packet's must be identical.
		t.true(Buffer.from(out).equals(mqttPacket.generate({ cmd: "publish", topic: "t", payload: Buffer.from(p.payload), qos: 0, retain: false, dup: false }, { protocolVersion: 4 })), `bytes for ${value}`);
		const back = decodePacket(out, 4) as PublishPacket;
		t.is(back.payload.length, value - 3);
	}
});

test("the largest remaining length 268435455 is sized (not allocated) and one more is refused", (t) => {
	// packetSize only measures: a stand-in with a length is enough for the payload.
	const huge = (n: number) => ({ ...publishWithRemaining(3), payload: { length: n } as unknown as Uint8Array });
	t.is(packetSize(huge(MAX_REMAINING_LENGTH - 3), 4), 1 + 4 + MAX_REMAINING_LENGTH);
	const error = t.throws(() => packetSize(huge(MAX_REMAINING_LENGTH - 2), 4));
	t.true(error instanceof CodecError);
	t.is((error as CodecError).code, "invalid");
	t.throws(() => encode(huge(MAX_REMAINING_LENGTH - 2), 4), { instanceOf: CodecError });
});

test("the decoder reads every boundary remaining length from the header", (t) => {
	for (const [value, bytes] of VARINTS) {
		// Type PUBLISH QoS 0; a 64-byte buffer makes all but the small ones oversize.
		const c = collector(64, 4);
		c.push([0x30, ...bytes]);
		if (value === 0) {
			// An empty PUBLISH body (no topic length) is malformed, but its length was read.
			t.is(c.errors.length, 1);
			continue;
		}
		t.true(c.decoder.pending, `pending after header of ${value}`);
		// Feed the body in 1 MiB slices of zeros (topic length 0) without copying.
		const slab = new Uint8Array(Math.min(value, 1 << 20));
		let left = value;
		while (left > 0) {
			const n = Math.min(left, slab.length);
			c.push(slab.subarray(0, n));
			left -= n;
		}
		t.deepEqual(c.thrown, []);
		t.false(c.decoder.pending, `complete after ${value} bytes`);
		const total = 1 + bytes.length + value;
		if (total <= 64) {
			t.is(c.packets.length, 1);
			t.is((c.packets[0] as PublishPacket).payload.length, value - 2);
		}
		else t.deepEqual(c.oversize, [{ type: "publish", size: total, qos: 0, topic: "" }], String(value));
	}
});

/* ----------------------------------------------------------------------------------------- */
/* Malformed input                                                                            */

/** Builds a 5.0 CONNACK (accepted) with the given property bytes. */
function connackV5(props: number[]): number[] {
	const body = [0x00, 0x00, props.length, ...props];
	return [0x20, body.length, ...body];
}

/** A 5.0 QoS 0 PUBLISH to "a" with the given property bytes and payload "x". */
function publishV5(props: number[]): number[] {
	const body = [0x00, 0x01, 0x61, props.length, ...props, 0x78];
	return [0x30, body.length, ...body];
}

const MALFORMED: { name: string; version: ProtocolVersion; bytes: number[] }[] = [
	{ name: "5-byte remaining length", version: 4, bytes: [0x30, 0xff, 0xff, 0xff, 0xff, 0x01] },
	{ name: "reserved packet type 0", version: 4, bytes: [0x00, 0x00] },
	{ name: "reserved packet type 0 (5.0)", version: 5, bytes: [0x00, 0x00] },
	{ name: "PUBREL with flags 0 (must be 2)", version: 4, bytes: [0x60, 0x02, 0x00, 0x01] },
	{ name: "SUBSCRIBE with flags 0 (must be 2)", version: 4, bytes: [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00] },
	{ name: "PUBACK with flags 1", version: 4, bytes: [0x41, 0x02, 0x00, 0x01] },
	{ name: "PINGRESP with flags 8", version: 4, bytes: [0xd8, 0x00] },
	{ name: "PUBLISH QoS 3", version: 4, bytes: [0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01] },
	{ name: "invalid UTF-8 in a topic (C3 28)", version: 4, bytes: [0x30, 0x04, 0x00, 0x02, 0xc3, 0x28] },
	{ name: "overlong UTF-8 in a topic (C0 AF)", version: 4, bytes: [0x30, 0x04, 0x00, 0x02, 0xc0, 0xaf] },
	{ name: "UTF-16 surrogate encoded in a topic (ED A0 80)", version: 4, bytes: [0x30, 0x05, 0x00, 0x03, 0xed, 0xa0, 0x80] },
	{ name: "truncated UTF-8 sequence in a topic (E6 B8)", version: 4, bytes: [0x30, 0x04, 0x00, 0x02, 0xe6, 0xb8] },
	{ name: "U+0000 in a topic", version: 4, bytes: [0x30, 0x05, 0x00, 0x03, 0x61, 0x00, 0x62] },
	{ name: "topic string running past the end", version: 4, bytes: [0x30, 0x04, 0x00, 0x0a, 0x61, 0x62] },
	{ name: "PUBLISH QoS 1 without room for its packet id", version: 4, bytes: [0x32, 0x04, 0x00, 0x01, 0x61, 0x00] },
	{ name: "PUBLISH QoS 1 with packet id 0", version: 4, bytes: [0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00] },
	{ name: "PUBACK with packet identifier 0", version: 4, bytes: [0x40, 0x02, 0x00, 0x00] },
	{ name: "SUBACK with packet identifier 0", version: 5, bytes: [0x90, 0x04, 0x00, 0x00, 0x00, 0x00] },
	{ name: "3.1.1 UNSUBACK with packet identifier 0", version: 4, bytes: [0xb0, 0x02, 0x00, 0x00] },
	{ name: "trailing bytes in CONNACK", version: 4, bytes: [0x20, 0x03, 0x00, 0x00, 0x00] },
	{ name: "CONNACK reserved flags", version: 4, bytes: [0x20, 0x02, 0x02, 0x00] },
	{ name: "short CONNACK", version: 4, bytes: [0x20, 0x01, 0x00] },
	{ name: "trailing bytes in 3.1.1 UNSUBACK", version: 4, bytes: [0xb0, 0x03, 0x00, 0x01, 0x00] },
	{ name: "PINGRESP with a body", version: 4, bytes: [0xd0, 0x01, 0x00] },
	{ name: "SUBACK without return codes", version: 4, bytes: [0x90, 0x02, 0x00, 0x01] },
	{ name: "AUTH in 3.1.1", version: 4, bytes: [0xf0, 0x00] },
	{ name: "unknown 5.0 property id 0x04", version: 5, bytes: connackV5([0x04, 0x00]) },
	{ name: "unknown 5.0 property id 0x7f", version: 5, bytes: publishV5([0x7f, 0x00]) },
	{ name: "duplicate Maximum QoS in CONNACK", version: 5, bytes: connackV5([0x24, 0x01, 0x24, 0x00]) },
	{ name: "duplicate Content Type in PUBLISH", version: 5, bytes: publishV5([0x03, 0x00, 0x01, 0x61, 0x03, 0x00, 0x01, 0x62]) },
	{ name: "duplicate Topic Alias in PUBLISH", version: 5, bytes: publishV5([0x23, 0x00, 0x01, 0x23, 0x00, 0x02]) },
	{ name: "property value running past the property length", version: 5, bytes: publishV5([0x02, 0x00, 0x00]) },
	{ name: "property length past the end of the packet", version: 5, bytes: [0x20, 0x03, 0x00, 0x00, 0x05] },
	{ name: "subscription options with reserved bits (5.0)", version: 5, bytes: [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0xc0] },
	{ name: "subscription options with bits 2..7 in 3.1.1", version: 4, bytes: [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04] },
	{ name: "retain handling 3", version: 5, bytes: [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30] },
	{ name: "CONNECT with an unknown protocol level", version: 4, bytes: [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x07, 0x02, 0x00, 0x3c, 0x00, 0x00] },
	{ name: "CONNECT with the reserved flag", version: 4, bytes: [0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x3c, 0x00, 0x00] },
];

for (const m of MALFORMED) {
	test(`malformed: ${m.name} -> onError(CodecError), no throw, stays failed until reset`, (t) => {
		for (const chunking of ["whole", "bytewise"] as const) {
			const c = collector(1024, m.version);
			if (chunking === "whole") c.push(m.bytes);
			else for (const b of m.bytes) c.push([b]);
			t.deepEqual(c.thrown, [], chunking);
			t.is(c.packets.length, 0, chunking);
			t.is(c.errors.length, 1, chunking);
			t.true(c.errors[0] instanceof CodecError);
			t.is(c.errors[0].code, "malformed");
			t.true(c.decoder.failed);
			// Failed: a valid packet is ignored, nothing more is reported.
			c.push([0xd0, 0x00]);
			t.is(c.packets.length, 0);
			t.is(c.errors.length, 1);
			c.decoder.reset();
			t.false(c.decoder.failed);
			c.push([0xd0, 0x00]);
			t.deepEqual(c.packets, [{ type: "pingresp" }]);
		}
		t.throws(() => decodePacket(new Uint8Array(m.bytes), m.version), { instanceOf: CodecError });
	});
}

test("controls: the well-formed neighbours of the malformed cases decode", (t) => {
	t.deepEqual(decodePacket(new Uint8Array([0x62, 0x02, 0x00, 0x01]), 4), { type: "pubrel", id: 1 });
	t.deepEqual(decodePacket(new Uint8Array([0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x02]), 4), { type: "subscribe", id: 1, subscriptions: [{ topic: "a", qos: 2 }] });
	t.deepEqual(decodePacket(new Uint8Array([0x20, 0x02, 0x01, 0x00]), 4), { type: "connack", sessionPresent: true, reasonCode: 0 });
	const topic = decodePacket(new Uint8Array([0x30, 0x07, 0x00, 0x05, 0xe6, 0xb8, 0xa9, 0xc3, 0xa9]), 4) as PublishPacket;
	t.is(topic.topic, "温é");
	const astral = decodePacket(new Uint8Array([0x30, 0x06, 0x00, 0x04, 0xf0, 0x9f, 0x8c, 0xa1]), 4) as PublishPacket;
	t.is(astral.topic, "🌡");
	// Repeatable properties may appear several times.
	const p = decodePacket(new Uint8Array(publishV5([0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x31, 0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x32, 0x0b, 0x01, 0x0b, 0x80, 0x01])), 5) as PublishPacket;
	t.deepEqual(p.properties, { userProperties: [["k", "1"], ["k", "2"]], subscriptionIdentifier: [1, 128] });
	t.deepEqual([...p.payload], [0x78]);
	t.deepEqual(decodePacket(new Uint8Array(connackV5([0x24, 0x01])), 5), { type: "connack", sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 1 } });
});

/* ----------------------------------------------------------------------------------------- */
/* Chunking                                                                                   */

for (const version of [4, 5] as const) {
	test(`v${version}: one byte at a time, one chunk, and random chunks give the same packets`, (t) => {
		const r = new Rand(1000 + version);
		const packets: Packet[] = [];
		for (let i = 0; i < 300; i++) {
			const p = randomPacket(r, version);
			if (p.type === "publish" && p.payload.length > 3000) p.payload = p.payload.subarray(0, 3000);
			packets.push(p);
		}
		const stream = Buffer.concat(packets.map((p) => mpEncode(p, version)));
		const max = 70_000;
		const whole = collector(max, version);
		whole.push(stream);
		const bytewise = collector(max, version);
		for (let i = 0; i < stream.length; i++) bytewise.push(stream.subarray(i, i + 1));
		const random = collector(max, version);
		for (let i = 0; i < stream.length;) {
			const n = r.int(1, 700);
			random.push(stream.subarray(i, i + n));
			i += n;
		}
		for (const c of [whole, bytewise, random]) {
			t.deepEqual(c.thrown, []);
			t.deepEqual(c.errors, []);
			t.is(c.packets.length, packets.length);
			t.false(c.decoder.pending);
		}
		const want = packets.map((p) => canon(p, version));
		t.true(isDeepStrictEqual(whole.packets.map((p) => canon(p, version)), want));
		t.true(isDeepStrictEqual(bytewise.packets.map((p) => canon(p, version)), want));
		t.true(isDeepStrictEqual(random.packets.map((p) => canon(p, version)), want));
	});
}

/* ----------------------------------------------------------------------------------------- */
/* maxPacketSize                                                                              */

/** A QoS 1 PUBLISH to "big/t", id 1234, whose total encoded size is `total` (1000..1100). */
function publishOfTotal(total: number, version: ProtocolVersion): PublishPacket {
	// total = 1 (type) + 2 (remaining length, 128..16383) + remaining;
	// remaining = 2 + 5 (topic) + 2 (id) [+ 1 (empty property length, 5.0)] + payload.
	const remaining = total - 3;
	const payload = remaining - 9 - (version === 5 ? 1 : 0);
	return { type: "publish", topic: "big/t", payload: new Uint8Array(payload).fill(0x41), qos: 1, retain: false, dup: false, id: 1234 };
}

for (const version of [4, 5] as const) {
	test(`v${version}: with maxPacketSize 1024, packets of 1023 and 1024 bytes decode, 1025 is drained and reported`, (t) => {
		const sizes = [1023, 1024, 1025];
		const encoded = sizes.map((n) => encode(publishOfTotal(n, version), version));
		t.deepEqual(encoded.map((b) => b.length), sizes);
		// mqtt-packet agrees on those sizes.
		t.deepEqual(sizes.map((n) => mpEncode(publishOfTotal(n, version), version).length), sizes);

		const after: Packet[] = [{ type: "pingresp" }, { type: "publish", topic: "next", payload: new Uint8Array([1, 2, 3]), qos: 1, retain: false, dup: false, id: 7 }];
		const stream = Buffer.concat([...encoded, ...after.map((p) => encode(p, version)), encoded[2], encoded[0]]);
		for (const step of [stream.length, 1, 13, 500, 1024, 1025]) {
			const c = collector(1024, version);
			for (let i = 0; i < stream.length; i += step) c.push(stream.subarray(i, i + step));
			t.deepEqual(c.thrown, []);
			t.deepEqual(c.errors, [], `step ${step}`);
			// Each PUBLISH as its payload size: 1023 and 1024 byte packets carry total - 12 (3.1.1) or - 13 (5.0).
			const overhead = version === 5 ? 13 : 12;
			t.deepEqual(c.packets.map((p) => p.type === "publish" ? p.payload.length : p.type),
				[1023 - overhead, 1024 - overhead, "pingresp", 3, 1023 - overhead], `step ${step}`);
			t.is((c.packets[3] as PublishPacket).topic, "next");
			t.deepEqual(c.oversize, [
				{ type: "publish", size: 1025, topic: "big/t", qos: 1, id: 1234 },
				{ type: "publish", size: 1025, topic: "big/t", qos: 1, id: 1234 },
			], `step ${step}`);
			t.false(c.decoder.pending);
		}
	});
}

test("an oversize non-PUBLISH is reported with its type and size only", (t) => {
	// SUBACK with 1020 return codes: remaining 1022, total 1025.
	const suback = encode({ type: "suback", id: 9, reasonCodes: new Array(1020).fill(1) }, 4);
	t.is(suback.length, 1025);
	const c = collector(1024, 4);
	c.push(Buffer.concat([suback, Buffer.from([0xd0, 0x00])]));
	t.deepEqual(c.oversize, [{ type: "suback", size: 1025 }]);
	t.deepEqual(c.packets, [{ type: "pingresp" }]);
});

test("an oversize PUBLISH whose topic does not fit in the buffer is still reported", (t) => {
	const topic = "x".repeat(100);
	const p: PublishPacket = { type: "publish", topic, payload: new Uint8Array(10), qos: 2, retain: false, dup: false, id: 5 };
	const bytes = encode(p, 4);
	const c = collector(64, 4);
	c.push(bytes);
	c.push([0xd0, 0x00]);
	t.is(c.oversize.length, 1);
	t.is(c.oversize[0].type, "publish");
	t.is(c.oversize[0].size, bytes.length);
	t.is(c.oversize[0].topic, undefined);
	t.deepEqual(c.packets, [{ type: "pingresp" }]);
});

test("a QoS 0 oversize PUBLISH has no packet id", (t) => {
	const p: PublishPacket = { type: "publish", topic: "q0", payload: new Uint8Array(2000), qos: 0, retain: true, dup: false };
	const c = collector(1024, 5);
	c.push(encode(p, 5));
	t.deepEqual(c.oversize, [{ type: "publish", size: packetSize(p, 5), topic: "q0", qos: 0 }]);
});

/** An oversize packet's bytes: first byte, a 2-byte remaining length of `remaining`, `head`, then zeros. */
function oversizeBytes(first: number, remaining: number, head: number[]): Uint8Array {
	const bytes = new Uint8Array(3 + remaining);
	bytes.set([first, (remaining % 128) | 0x80, Math.floor(remaining / 128), ...head]);
	return bytes;
}

// The checks every packet gets, made on what is known of an oversize one: it is malformed, not
// merely too large, and its head must not reach the application (an id 0 would be acknowledged).
const OVERSIZE_MALFORMED: { name: string; version: ProtocolVersion; bytes: Uint8Array; message: RegExp }[] = [
	{ name: "QoS 1 PUBLISH with packet identifier 0", version: 4, bytes: oversizeBytes(0x32, 1500, [0, 1, 0x74, 0, 0]), message: /packet identifier 0/ },
	{ name: "QoS 2 PUBLISH with packet identifier 0 (5.0)", version: 5, bytes: oversizeBytes(0x34, 1500, [0, 1, 0x74, 0, 0, 0]), message: /packet identifier 0/ },
	{ name: "PUBLISH with QoS 3", version: 4, bytes: oversizeBytes(0x36, 1500, [0, 1, 0x74, 0, 1]), message: /QoS 3/ },
	{ name: "PUBLISH whose topic is not UTF-8", version: 4, bytes: oversizeBytes(0x32, 1500, [0, 2, 0xc3, 0x28, 0, 1]), message: /UTF-8/ },
	{ name: "PUBLISH whose topic contains U+0000", version: 4, bytes: oversizeBytes(0x30, 1500, [0, 2, 0x61, 0x00]), message: /U\+0000/ },
	{ name: "PUBLISH whose topic runs past the end of the packet", version: 4, bytes: oversizeBytes(0x32, 1500, [0xff, 0xff]), message: /runs past the end/ },
	{ name: "SUBACK with fixed header flags 3", version: 4, bytes: oversizeBytes(0x93, 1500, [0, 1]), message: /flags 3/ },
	{ name: "PUBREL with fixed header flags 0", version: 5, bytes: oversizeBytes(0x60, 1500, [0, 1]), message: /flags 0, expected 2/ },
];

for (const m of OVERSIZE_MALFORMED) {
	test(`oversize and malformed: ${m.name} -> onError, not onOversize, no throw`, (t) => {
		const c = collector(1024, m.version);
		c.push(m.bytes);
		t.deepEqual(c.thrown, []);
		t.deepEqual(c.oversize, []);
		t.is(c.errors.length, 1);
		t.is(c.errors[0]?.code, "malformed");
		t.regex(c.errors[0]?.message ?? "", m.message);
		t.true(c.decoder.failed);
	});
}

test("an oversize PUBLISH whose packet identifier does not fit in the buffer is reported without it", (t) => {
	// A 64-byte buffer keeps 62 bytes of the body: the topic (2 + 59 bytes) fits, the identifier does not.
	const topic = "y".repeat(59);
	const p: PublishPacket = { type: "publish", topic, payload: new Uint8Array(10), qos: 1, retain: false, dup: false, id: 7 };
	const c = collector(64, 4);
	c.push(encode(p, 4));
	t.deepEqual(c.errors, []);
	t.deepEqual(c.oversize, [{ type: "publish", size: packetSize(p, 4), topic, qos: 1 }]);
});

test("reset() from a callback stops the push in progress; the rest of that chunk is dropped", (t) => {
	const got: Packet[] = [];
	let resetOnFirst = true;
	const decoder: Decoder = new Decoder({
		maxPacketSize: 64,
		protocolVersion: 4,
		onPacket: (p) => {
			got.push(p);
			if (resetOnFirst) {
				resetOnFirst = false;
				decoder.reset();
			}
		},
		onOversize: () => {},
		onError: () => {},
	});
	// PINGRESP, then a PUBACK and the first half of a PUBLISH: none of it must leak into the next stream.
	decoder.push(new Uint8Array([0xd0, 0x00, 0x40, 0x02, 0x00, 0x07, 0x30, 0x05, 0x00]));
	t.deepEqual(got, [{ type: "pingresp" }]);
	t.false(decoder.pending);
	decoder.push(new Uint8Array([0x40, 0x02, 0x00, 0x08]));
	t.deepEqual(got, [{ type: "pingresp" }, { type: "puback", id: 8 }]);
});

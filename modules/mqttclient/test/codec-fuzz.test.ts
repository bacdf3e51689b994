import test from "ava";
import { isDeepStrictEqual } from "node:util";
import { CodecError, Decoder, decodePacket, encode } from "mqttclient/codec";
import type { Packet, ProtocolVersion } from "mqttclient/packets";
import { canon, mutate, Rand, randomPacket } from "./oracle";

/*
 * Seeded random and mutated byte streams into the incremental decoder. Properties checked:
 * - nothing ever escapes push() as an exception;
 * - after onError the decoder reports nothing more and stays failed until reset();
 * - after reset() it decodes again;
 * - whatever it accepts as a packet can be encoded again and decodes to the same packet;
 * - memory stays bounded: a huge declared length is skipped, never buffered.
 */

const ITERATIONS_PER_VERSION = 10_000;

function validStream(r: Rand, version: ProtocolVersion): Uint8Array {
	const n = r.int(1, 4);
	const parts: Uint8Array[] = [];
	for (let i = 0; i < n; i++) {
		const p = randomPacket(r, version);
		if (p.type === "publish" && p.payload.length > 300) p.payload = p.payload.subarray(0, r.int(0, 300));
		if (p.type === "connect" && p.will && p.will.payload.length > 300) p.will.payload = p.will.payload.subarray(0, 300);
		if (p.type === "connect" && p.password && p.password.length > 300) p.password = p.password.subarray(0, 300);
		parts.push(encode(p, version));
	}
	return Buffer.concat(parts);
}

for (const version of [4, 5] as const) {
	test(`v${version}: ${ITERATIONS_PER_VERSION} random and mutated streams never throw, and a failure is final until reset()`, (t) => {
		const r = new Rand(Number(process.env.FUZZ_SEED ?? 0xf022) + version);
		const problems: string[] = [];
		let packetsSeen = 0;
		let errorsSeen = 0;
		let oversizeSeen = 0;
		for (let iteration = 0; iteration < ITERATIONS_PER_VERSION && problems.length < 5; iteration++) {
			const roll = r.next();
			const stream = roll < 0.15 ? r.bytes(r.int(0, 200)) : roll < 0.25 ? validStream(r, version) : mutate(r, validStream(r, version));
			const maxPacketSize = r.pick([2, 5, 16, 64, 256, 1024, 4096]);
			let failedAt = -1;
			let events = 0;
			const after = (what: string) => {
				events++;
				if (failedAt >= 0) problems.push(`#${iteration}: ${what} after onError`);
			};
			const decoder = new Decoder({
				maxPacketSize,
				protocolVersion: version,
				onPacket: (p) => {
					after("onPacket");
					packetsSeen++;
					// Whatever is accepted must be representable: encode it again and decode that.
					try {
						const again = decodePacket(encode(p, version), version);
						if (!isDeepStrictEqual(canon(again, version), canon(p, version))) problems.push(`#${iteration}: ${p.type} changes on re-encoding`);
					}
					catch (e) {
						problems.push(`#${iteration}: accepted ${p.type} cannot be re-encoded: ${String(e)} ${JSON.stringify(canon(p, version)).slice(0, 200)}`);
					}
				},
				onOversize: (info) => {
					after("onOversize");
					oversizeSeen++;
					if (!(info.size > maxPacketSize)) problems.push(`#${iteration}: oversize ${info.size} <= ${maxPacketSize}`);
				},
				onError: (e) => {
					after("onError");
					errorsSeen++;
					if (!(e instanceof CodecError) || e.code !== "malformed") problems.push(`#${iteration}: onError got ${String(e)}`);
					failedAt = events;
				},
			});
			for (let i = 0; i < stream.length;) {
				const n = r.bool(0.3) ? 1 : r.int(1, 64);
				try {
					decoder.push(stream.subarray(i, i + n));
				}
				catch (e) {
					problems.push(`#${iteration}: push threw ${String(e)}`);
					break;
				}
				i += n;
				if (failedAt >= 0 && !decoder.failed) problems.push(`#${iteration}: failed flag cleared without reset`);
			}
			if (failedAt >= 0) {
				// More input after a failure is ignored.
				decoder.push(new Uint8Array([0xd0, 0x00]));
				if (!decoder.failed || decoder.pending) problems.push(`#${iteration}: not failed after more input`);
			}
			decoder.reset();
			failedAt = -1;
			const before = packetsSeen;
			decoder.push(new Uint8Array([0xd0, 0x00]));
			if (packetsSeen !== before + 1 || decoder.pending || decoder.failed) problems.push(`#${iteration}: no PINGRESP after reset()`);
		}
		t.deepEqual(problems, []);
		// The corpus exercised all three outcomes.
		t.true(packetsSeen > 1000, `packets ${packetsSeen}`);
		t.true(errorsSeen > 1000, `errors ${errorsSeen}`);
		t.true(oversizeSeen > 100, `oversize ${oversizeSeen}`);
	});
}

test("a 200 MB declared packet is skipped without being buffered", (t) => {
	const declared = 200 * 1024 * 1024;
	const slab = new Uint8Array(1 << 20); // reused input, allocated before the baseline
	const packets: Packet[] = [];
	const oversize: unknown[] = [];
	const errors: unknown[] = [];
	const decoder = new Decoder({
		maxPacketSize: 1024,
		protocolVersion: 4,
		onPacket: (p) => packets.push(p),
		onOversize: (i) => oversize.push(i),
		onError: (e) => errors.push(e),
	});
	const header = [0x30];
	for (let v = declared; ;) {
		const digit = v % 128;
		v = Math.floor(v / 128);
		header.push(v > 0 ? digit | 0x80 : digit);
		if (!v) break;
	}
	const baseline = process.memoryUsage().arrayBuffers;
	decoder.push(new Uint8Array(header));
	// Topic "big", then a few KB of the payload.
	decoder.push(new Uint8Array([0x00, 0x03, 0x62, 0x69, 0x67]));
	let fed = 5;
	for (let i = 0; i < 4; i++) {
		decoder.push(slab.subarray(0, 1024));
		fed += 1024;
	}
	t.true(decoder.pending);
	t.deepEqual(packets, []);
	t.deepEqual(oversize, []);
	t.deepEqual(errors, []);
	t.true(process.memoryUsage().arrayBuffers - baseline < 300 * 1024, "no allocation for the declared length");
	// Drain the rest in 1 MiB slices: still nothing allocated, then the packet is reported and the next one decodes.
	while (fed < declared) {
		const n = Math.min(slab.length, declared - fed);
		decoder.push(slab.subarray(0, n));
		fed += n;
		if (fed < declared && !decoder.pending) break;
	}
	t.true(process.memoryUsage().arrayBuffers - baseline < 300 * 1024, "no allocation while skipping");
	t.deepEqual(oversize, [{ type: "publish", size: 1 + (header.length - 1) + declared, topic: "big", qos: 0 }]);
	decoder.push(new Uint8Array([0xd0, 0x00]));
	t.deepEqual(packets, [{ type: "pingresp" }]);
	t.false(decoder.pending);
});

test("the decoder's buffer is sized by maxPacketSize at construction, not by input", (t) => {
	const before = process.memoryUsage().arrayBuffers;
	const big = new Decoder({ maxPacketSize: 4 * 1024 * 1024, protocolVersion: 5, onPacket: () => {}, onOversize: () => {}, onError: () => {} });
	const grown = process.memoryUsage().arrayBuffers - before;
	t.true(grown >= 4 * 1024 * 1024 - 2 && grown < 5 * 1024 * 1024, `allocated ${grown}`);
	// A full-size packet then fits without any further allocation beyond the decoded packet itself.
	const payload = new Uint8Array(4 * 1024 * 1024 - 16);
	const bytes = encode({ type: "publish", topic: "t", payload, qos: 0, retain: false, dup: false }, 5);
	let got = 0;
	const d2 = new Decoder({ maxPacketSize: bytes.length, protocolVersion: 5, onPacket: (p) => { got = (p as { payload: Uint8Array }).payload.length; }, onOversize: () => {}, onError: () => {} });
	d2.push(bytes);
	t.is(got, payload.length);
	void big;
});

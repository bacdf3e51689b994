import test from "ava";
import type { Pulses } from "dht/capture";
import { decodeBits, decodeBytes, decodeDht, encodeDhtBytes, type DhtModel } from "dht/decoder";
import { mulberry32 } from "../../../test-host/adapters/prng";

/*
 * Pulse trains are built here, independently of the host simulator, from the timings in the
 * datasheets: preamble 80/80 µs, bit = 50 µs low + 26 µs (0) or 70 µs (1) high, final 50 µs low.
 */

function prng(seed: number): () => number {
	return mulberry32(seed);
}

interface TrainOptions {
	/** ± µs, uniform. */
	jitter?: number;
	random?: () => number;
	/** Tail of the host start pulse (then a 30 µs idle high). */
	tail?: number;
	/** Multiplies every sensor timing (a slow or fast sensor). */
	scale?: number;
	/** Include the final low. Default true. */
	endLow?: boolean;
}

function train(bytes: ArrayLike<number>, o: TrainOptions = {}): Pulses {
	const random = o.random ?? prng(1);
	const scale = o.scale ?? 1;
	const jitter = o.jitter ?? 0;
	const d: number[] = [];
	const add = (us: number) => d.push(Math.max(1, Math.round(us * scale + (random() * 2 - 1) * jitter)));
	if (o.tail) {
		d.push(o.tail);
		add(30);
	}
	add(80);
	add(80);
	for (let i = 0; i < 40; i++) {
		add(50);
		add((bytes[i >> 3] >> (7 - (i & 7))) & 1 ? 70 : 26);
	}
	if (o.endLow !== false) add(50);
	return { phase: 0, durations: d };
}

function withChecksum(b0: number, b1: number, b2: number, b3: number): number[] {
	return [b0, b1, b2, b3, (b0 + b1 + b2 + b3) & 0xff];
}

/** Merges durations i and i+1 (the edge between them was not seen). */
function dropEdge(p: Pulses, i: number): Pulses {
	const d = Array.from(p.durations);
	d.splice(i, 2, d[i] + d[i + 1]);
	return { phase: p.phase, durations: d };
}

function expectReading(t: import("ava").ExecutionContext, model: DhtModel, p: Pulses, temperature: number, humidity: number) {
	const r = decodeDht(model, p);
	if (!r.ok) return t.fail(`${model} ${temperature} °C ${humidity} %: ${r.error} (${r.detail})`);
	t.is(r.temperature, temperature, `${model} temperature`);
	t.is(r.humidity, humidity, `${model} humidity`);
}

test("DHT22 bytes follow the datasheet examples", (t) => {
	// AM2302 datasheet: 65.2 %RH, 35.1 °C -> 0x02 0x8C 0x01 0x5F, checksum 0xEE; -10.1 °C -> 0x80 0x65.
	t.deepEqual(Array.from(encodeDhtBytes("dht22", 35.1, 65.2)), [0x02, 0x8c, 0x01, 0x5f, 0xee]);
	t.deepEqual(Array.from(encodeDhtBytes("dht22", -10.1, 65.2)).slice(2, 4), [0x80, 0x65]);
	const r = decodeBytes("dht22", Uint8Array.from([0x02, 0x8c, 0x01, 0x5f, 0xee]));
	t.like(r, { ok: true, temperature: 35.1, humidity: 65.2 });
	t.like(decodeBytes("dht22", Uint8Array.from(withChecksum(0x02, 0x8c, 0x80, 0x65))), { ok: true, temperature: -10.1 });
});

test("DHT11 bytes: integer and decimal parts, sign in bit 7 of byte 3", (t) => {
	t.deepEqual(Array.from(encodeDhtBytes("dht11", 23, 45)), [45, 0, 23, 0, 68]);
	t.like(decodeBytes("dht11", Uint8Array.from(withChecksum(45, 0, 23, 0))), { ok: true, temperature: 23, humidity: 45 });
	t.like(decodeBytes("dht11", Uint8Array.from(withChecksum(55, 3, 10, 0x85))), { ok: true, temperature: -10.5, humidity: 55.3 });
	t.like(decodeBytes("dht11", Uint8Array.from(withChecksum(60, 0, 0, 0x81))), { ok: true, temperature: -0.1 });
});

test("DHT22 round trips, negatives, tenths and humidity edges", (t) => {
	const temperatures = [-40, -39.9, -10.5, -1, -0.1, 0, 0.1, 1.5, 9.9, 22.3, 25.6, 51.2, 79.9, 80];
	const humidities = [0, 0.1, 1, 12.5, 45.6, 99.9, 100];
	for (const temperature of temperatures) {
		for (const humidity of humidities) {
			if (temperature === 1 && humidity === 1) continue;
			expectReading(t, "dht22", train(encodeDhtBytes("dht22", temperature, humidity)), temperature, humidity);
		}
	}
});

test("DHT11 round trips, negatives on newer parts, tenths", (t) => {
	const temperatures = [-20, -10.5, -0.1, 0, 0.1, 9.9, 23.4, 50, 60];
	const humidities = [0, 5, 20.1, 55.5, 95, 100];
	for (const temperature of temperatures) {
		for (const humidity of humidities) {
			expectReading(t, "dht11", train(encodeDhtBytes("dht11", temperature, humidity)), temperature, humidity);
		}
	}
});

test("a frame of all zero bits and one of mostly one bits decode (one group of highs)", (t) => {
	expectReading(t, "dht22", train([0, 0, 0, 0, 0], { jitter: 15, random: prng(3) }), 0, 0);
	// 0xFF bytes where the format allows: humidity 0x03E7 = 99.9, temperature 0x7F.. is out of range, so
	// use 0x01FF = 51.1 °C; most bits are 1.
	const bytes = withChecksum(0x03, 0xe7, 0x01, 0xff);
	expectReading(t, "dht22", train(bytes, { jitter: 15, random: prng(4) }), 51.1, 99.9);
});

test("timing jitter of ±15 µs on every duration still decodes", (t) => {
	const random = prng(42);
	for (let i = 0; i < 200; i++) {
		const temperature = Math.round((random() * 120 - 40) * 10) / 10;
		const humidity = Math.round(random() * 1000) / 10;
		if (temperature === 1 && humidity === 1) continue;
		const p = train(encodeDhtBytes("dht22", temperature, humidity), { jitter: 15, random });
		expectReading(t, "dht22", p, temperature, humidity);
	}
});

test("a slow or fast sensor decodes (all timings scaled), with jitter", (t) => {
	const bytes = encodeDhtBytes("dht22", -12.3, 67.8);
	for (const scale of [0.8, 0.9, 1.15, 1.3]) {
		for (let seed = 0; seed < 20; seed++) {
			expectReading(t, "dht22", train(bytes, { scale, jitter: 10, random: prng(seed) }), -12.3, 67.8);
		}
	}
});

test("highs biased against lows (slow rising edges) decode", (t) => {
	// Lows 10 µs longer, highs 10 µs shorter than nominal, ±6 µs jitter: a threshold from the lows
	// alone (~58 µs) would misread the shortest 1s (~54 µs).
	const bytes = encodeDhtBytes("dht22", 21.7, 48.2);
	for (let seed = 0; seed < 20; seed++) {
		const p = train(bytes, { jitter: 6, random: prng(seed) });
		const d = Array.from(p.durations);
		for (let i = 2; i < 82; i++) d[i] += i % 2 === 0 ? 10 : -10;
		expectReading(t, "dht22", { phase: 0, durations: d }, 21.7, 48.2);
	}
});

test("capture with or without the host start tail and idle high", (t) => {
	const bytes = encodeDhtBytes("dht22", 18.4, 40.2);
	for (const tail of [0, 12, 70, 95, 400, 1100, 20000]) {
		expectReading(t, "dht22", train(bytes, { tail, jitter: 5, random: prng(tail) }), 18.4, 40.2);
	}
	// Starting on the idle high (phase 1), before the sensor's preamble.
	const p = train(bytes);
	expectReading(t, "dht22", { phase: 1, durations: [35, ...Array.from(p.durations)] }, 18.4, 40.2);
	// A trailing idle high recorded after the final low is ignored.
	expectReading(t, "dht22", { phase: 0, durations: [...Array.from(p.durations), 1000] }, 18.4, 40.2);
});

test("a tail and idle high that look like a preamble are not taken for it", (t) => {
	const bytes = encodeDhtBytes("dht22", 23.5, 51.3);
	const p = train(bytes);
	// Host tail 90 µs, idle 75 µs: both inside the preamble window.
	expectReading(t, "dht22", { phase: 0, durations: [90, 75, ...Array.from(p.durations)] }, 23.5, 51.3);
});

test("one lost edge anywhere in the bits is missing_edges, not a wrong value", (t) => {
	const p = train(encodeDhtBytes("dht22", 24.6, 52.1), { tail: 500 });
	// Durations 4..84 are the bits and the final low (after tail, idle and preamble).
	for (let i = 4; i < 84; i++) {
		const r = decodeDht("dht22", dropEdge(p, i));
		t.false(r.ok, `edge after duration ${i}`);
		if (!r.ok) t.is(r.error, "missing_edges", `edge after duration ${i}: ${r.detail}`);
	}
});

test("several lost edges and a truncated frame are missing_edges", (t) => {
	const p = train(encodeDhtBytes("dht22", 24.6, 52.1));
	let q = p;
	for (const i of [60, 40, 20, 5]) q = dropEdge(q, i);
	t.like(decodeDht("dht22", q), { ok: false, error: "missing_edges" });
	// Cut during bit 20's low: 20 whole bits (a last high could be cut short, so it never counts).
	const cut = { phase: 0 as const, durations: Array.from(p.durations).slice(0, 2 + 41) };
	const r = decodeDht("dht22", cut);
	t.like(r, { ok: false, error: "missing_edges" });
	if (!r.ok) t.regex(r.detail, /20 of 40 bits/);
	// All 40 bits but no final low.
	t.like(decodeDht("dht22", train(encodeDhtBytes("dht22", 24.6, 52.1), { endLow: false })), { ok: false, error: "missing_edges" });
});

test("a flipped data bit is a checksum error", (t) => {
	const bytes = encodeDhtBytes("dht22", 19.9, 61.4);
	for (let bit = 0; bit < 40; bit++) {
		const flipped = Uint8Array.from(bytes);
		flipped[bit >> 3] ^= 0x80 >> (bit & 7);
		const r = decodeDht("dht22", train(flipped, { jitter: 8, random: prng(bit) }));
		t.like(r, { ok: false, error: "checksum" }, `bit ${bit}`);
	}
});

test("a wrong checksum byte is a checksum error and carries the bytes", (t) => {
	const bytes = encodeDhtBytes("dht11", 21, 40);
	bytes[4] = (bytes[4] + 1) & 0xff;
	const r = decodeDht("dht11", train(bytes));
	t.like(r, { ok: false, error: "checksum" });
	if (!r.ok) t.deepEqual(r.bytes, bytes);
});

test("no response: empty, flat line, short noise", (t) => {
	t.like(decodeDht("dht22", { phase: 0, durations: [] }), { ok: false, error: "no_response" });
	t.like(decodeDht("dht22", { phase: 0, durations: [1100] }), { ok: false, error: "no_response" });
	t.like(decodeDht("dht22", { phase: 1, durations: [5000] }), { ok: false, error: "no_response" });
	const random = prng(7);
	for (let n = 0; n < 50; n++) {
		const noise = Array.from({ length: 1 + Math.floor(random() * 100) }, () => 1 + Math.floor(random() * 20));
		t.like(decodeDht("dht22", { phase: random() < 0.5 ? 0 : 1, durations: noise }), { ok: false, error: "no_response" });
	}
});

test("random durations are never decoded into a reading", (t) => {
	const random = prng(8);
	for (let n = 0; n < 300; n++) {
		const noise = Array.from({ length: 83 + Math.floor(random() * 4) }, () => 1 + Math.floor(random() * 200));
		t.false(decodeDht("dht22", { phase: 0, durations: noise }).ok);
	}
});

test("durations far outside the windows are bad_timing", (t) => {
	const p = train(encodeDhtBytes("dht22", 22, 50));
	const long = Array.from(p.durations);
	long[31] = 400; // a bit's high
	const r = decodeDht("dht22", { phase: 0, durations: long });
	t.like(r, { ok: false, error: "bad_timing" });
	if (!r.ok) t.regex(r.detail, /400/);
	const glitch = Array.from(p.durations);
	glitch[20] = 3; // a bit's low
	t.like(decodeDht("dht22", { phase: 0, durations: glitch }), { ok: false, error: "bad_timing" });
	t.like(decodeDht("dht22", { phase: 0, durations: [80, 80, Number.NaN] }), { ok: false, error: "bad_timing" });
});

test("1 °C with 1 % is implausible, but each alone is not", (t) => {
	for (const model of ["dht11", "dht22"] as const) {
		const r = decodeDht(model, train(encodeDhtBytes(model, 1, 1)));
		t.like(r, { ok: false, error: "implausible" }, model);
		expectReading(t, model, train(encodeDhtBytes(model, 1, 1.1)), 1, 1.1);
		expectReading(t, model, train(encodeDhtBytes(model, 1.1, 1)), 1.1, 1);
	}
});

test("values outside the sensor's range are implausible", (t) => {
	const cases: [DhtModel, number, number][] = [
		["dht22", 80.1, 50],
		["dht22", -40.1, 50],
		["dht22", 25, 100.1],
		["dht22", 25, 655.3],
		["dht11", 60.1, 50],
		["dht11", -20.1, 50],
		["dht11", 25, 100.5],
	];
	for (const [model, temperature, humidity] of cases) {
		const r = decodeDht(model, train(encodeDhtBytes(model, temperature, humidity)));
		t.like(r, { ok: false, error: "implausible" }, `${model} ${temperature} °C ${humidity} %`);
	}
	// DHT11 decimal bytes over 9 do not exist.
	t.like(decodeBytes("dht11", Uint8Array.from(withChecksum(50, 12, 20, 0))), { ok: false, error: "implausible" });
	// A DHT22 frame read as DHT11 is refused rather than misread (65.2 % becomes 2 % with a decimal of 140).
	t.like(decodeDht("dht11", train(encodeDhtBytes("dht22", 35.1, 65.2))), { ok: false, error: "implausible" });
});

test("decodeBits returns the raw bytes without judging them", (t) => {
	const bytes = Uint8Array.from([0xa5, 0x5a, 0xff, 0x00, 0x12]);
	const r = decodeBits(train(bytes, { jitter: 12, random: prng(9), tail: 300 }));
	t.true(r.ok);
	if (r.ok) t.deepEqual(r.bytes, bytes);
});

test("property: a few hundred seeded random readings, both models, with jitter and tails", (t) => {
	const random = prng(2026);
	let checked = 0;
	for (let i = 0; i < 400; i++) {
		const model: DhtModel = random() < 0.5 ? "dht11" : "dht22";
		const [tMin, tMax] = model === "dht22" ? [-40, 80] : [-20, 60];
		const temperature = Math.round((tMin + random() * (tMax - tMin)) * 10) / 10;
		const humidity = Math.round(random() * 1000) / 10;
		if (temperature === 1 && humidity === 1) continue;
		const tail = random() < 0.5 ? 0 : Math.round(50 + random() * 2000);
		const p = train(encodeDhtBytes(model, temperature, humidity), { jitter: 12, random, tail });
		expectReading(t, model, p, temperature === 0 ? 0 : temperature, humidity);
		checked++;
	}
	t.true(checked > 390);
});

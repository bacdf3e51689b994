/*
 * DHT11 / DHT22 (AM2302) frame decoding: a captured pulse train to 5 bytes, then to a reading.
 *
 * The sensor answers the host's start signal with a preamble (~80 µs low, ~80 µs high), 40 bits
 * (each ~50 µs low, then ~26 µs high for 0 or ~70 µs high for 1, most significant bit first) and
 * a final ~50 µs low before it releases the line. A capture may begin with the tail of the host's
 * start pulse and the idle high before the sensor pulls the line down; both are skipped.
 *
 * - Robust to timing: windows are wide (a slow sensor or ±15 µs of capture jitter still decodes)
 *   and the 0/1 threshold is not a fixed number: it starts from the mean of the 40 bit lows
 *   (about 50 µs at any sensor speed) and settles midway between the short and the long highs.
 * - Strict about structure: a frame is the preamble, 80 bit durations and the final low. A lost
 *   edge merges two durations, so the count comes up short and the frame is refused
 *   (missing_edges) instead of being decoded one bit out of step.
 * - Failures are results, never exceptions, and never an invented value: a reading is returned
 *   only when the checksum matches and the values are within the sensor's range.
 */

import type { Pulses } from "dht/capture";

export type DhtModel = "dht11" | "dht22";

export type DecodeErrorCode = "no_response" | "missing_edges" | "bad_timing" | "checksum" | "implausible";

export interface DecodeFailure {
	ok: false;
	error: DecodeErrorCode;
	/** A short human explanation, e.g. "bit 12 high lasted 180 µs". */
	detail: string;
	/** The 5 bytes, when the bits could be read (checksum and implausible failures). */
	bytes?: Uint8Array;
}

export type BitsResult = { ok: true; bytes: Uint8Array } | DecodeFailure;

export type DecodeResult =
	| {
			ok: true;
			/** °C, to 0.1. */
			temperature: number;
			/** % relative humidity, to 0.1. */
			humidity: number;
			bytes: Uint8Array;
	  }
	| DecodeFailure;

/** Inclusive windows in µs. Nominal values: preamble 80/80, bit low 50, high 26 (0) or 70 (1), final low 50. */
const PREAMBLE_MIN = 50;
const PREAMBLE_MAX = 130;
const BIT_LOW_MIN = 25;
const BIT_LOW_MAX = 100;
const BIT_HIGH_MIN = 8;
const BIT_HIGH_MAX = 120;
const END_LOW_MIN = 20;
const END_LOW_MAX = 150;
/** Bounds of the 0/1 threshold between high durations. */
const THRESHOLD_MIN = 35;
const THRESHOLD_MAX = 65;
/** The preamble is looked for among the first durations only (host tail, idle high, a glitch or two). */
const MAX_LEAD = 10;
/** Durations after the preamble: 40 bits of low + high, then the final low. */
const FRAME = 81;

/** Frozen, so that a preloaded module keeps them in flash without a RAM slot each. */
const RANGE: Readonly<Record<DhtModel, Readonly<{ tMin: number; tMax: number; hMin: number; hMax: number }>>> = Object.freeze({
	dht22: Object.freeze({ tMin: -40, tMax: 80, hMin: 0, hMax: 100 }),
	// Datasheet 0..50 °C and 5..95 %; newer parts report -20..60 °C, and humidity is accepted as 0..100.
	dht11: Object.freeze({ tMin: -20, tMax: 60, hMin: 0, hMax: 100 }),
});

function fail(error: DecodeErrorCode, detail: string, bytes?: Uint8Array): DecodeFailure {
	return bytes ? { ok: false, error, detail, bytes } : { ok: false, error, detail };
}

function within(value: number, min: number, max: number): boolean {
	return value >= min && value <= max;
}

/** Durations as plain numbers; undefined when one is not a finite, non-negative number. */
function durationsOf(pulses: Pulses): number[] | undefined {
	const source = pulses.durations;
	const length = source?.length;
	if (typeof length !== "number" || !(length >= 0)) return undefined;
	const out: number[] = [];
	for (let i = 0; i < length; i++) {
		const d = source[i];
		if (typeof d !== "number" || !Number.isFinite(d) || d < 0) return undefined;
		out.push(d);
	}
	return out;
}

/**
 * Index of the preamble's low: among the candidates (a low then a high, both in the preamble
 * window) near the start, the one followed by exactly a frame; otherwise the first; -1 if none.
 */
function findPreamble(d: number[], phase: 0 | 1, end: number): number {
	let first = -1;
	const last = Math.min(end - 2, MAX_LEAD);
	for (let i = phase === 0 ? 0 : 1; i <= last; i += 2) {
		if (!within(d[i], PREAMBLE_MIN, PREAMBLE_MAX) || !within(d[i + 1], PREAMBLE_MIN, PREAMBLE_MAX)) continue;
		if (end - (i + 2) === FRAME) return i;
		if (first < 0) first = i;
	}
	return first;
}

/** Locates the sensor's answer in a capture and reads its 5 bytes (checksum not checked). */
export function decodeBits(pulses: Pulses): BitsResult {
	const d = durationsOf(pulses);
	const phase = pulses.phase === 1 ? 1 : 0;
	if (!d) return fail("bad_timing", "capture holds a duration that is not a number of µs");
	// A trailing high is the idle line after the sensor released it: not part of the frame.
	let end = d.length;
	if (end > 0 && ((phase + end - 1) & 1) === 1) end--;
	const start = findPreamble(d, phase, end);
	if (start < 0) return fail("no_response", `no 80/80 µs response preamble in ${d.length} durations`);
	const first = start + 2;
	const available = end - first;
	if (available < FRAME) {
		const bits = Math.min(40, available >> 1);
		const detail =
			bits < 40
				? `frame truncated: ${bits} of 40 bits`
				: `${available} of ${FRAME} durations after the preamble: an edge was lost`;
		return fail("missing_edges", detail);
	}
	let lowSum = 0;
	for (let bit = 0; bit < 40; bit++) {
		const low = d[first + 2 * bit];
		const high = d[first + 2 * bit + 1];
		if (!within(low, BIT_LOW_MIN, BIT_LOW_MAX)) return fail("bad_timing", `bit ${bit} low lasted ${low} µs`);
		if (!within(high, BIT_HIGH_MIN, BIT_HIGH_MAX)) return fail("bad_timing", `bit ${bit} high lasted ${high} µs`);
		lowSum += low;
	}
	const endLow = d[first + 80];
	if (!within(endLow, END_LOW_MIN, END_LOW_MAX)) return fail("bad_timing", `final low lasted ${endLow} µs`);
	const highs: number[] = [];
	for (let bit = 0; bit < 40; bit++) highs.push(d[first + 2 * bit + 1]);
	const threshold = splitHighs(highs, lowSum / 40);
	const bytes = new Uint8Array(5);
	for (let bit = 0; bit < 40; bit++) {
		if (highs[bit] > threshold) bytes[bit >> 3] |= 0x80 >> (bit & 7);
	}
	return { ok: true, bytes };
}

/**
 * The duration that separates 0 highs (~26 µs) from 1 highs (~70 µs). It starts from the bit low
 * (~50 µs), which scales with the sensor's speed, then settles midway between the two groups of
 * highs (1-D k-means), which cancels a bias between lows and highs (slow edges, a weak pull-up).
 * When every bit is alike there is one group and the first estimate stands.
 */
function splitHighs(highs: number[], meanLow: number): number {
	let threshold = Math.min(THRESHOLD_MAX, Math.max(THRESHOLD_MIN, meanLow * 0.96));
	for (let round = 0; round < 4; round++) {
		let sum0 = 0;
		let n0 = 0;
		let sum1 = 0;
		let n1 = 0;
		for (const high of highs) {
			if (high > threshold) {
				sum1 += high;
				n1++;
			}
			else {
				sum0 += high;
				n0++;
			}
		}
		if (n0 === 0 || n1 === 0) break;
		const next = Math.min(THRESHOLD_MAX, Math.max(THRESHOLD_MIN, (sum0 / n0 + sum1 / n1) / 2));
		if (next === threshold) break;
		threshold = next;
	}
	return threshold;
}

/** Low 8 bits of the sum of bytes 0..3. */
export function checksumOf(bytes: ArrayLike<number>): number {
	return (bytes[0] + bytes[1] + bytes[2] + bytes[3]) & 0xff;
}

function tenths(value: number): number {
	const v = Math.round(value * 10) / 10;
	return v === 0 ? 0 : v; // no -0
}

/** Checks and converts the 5 bytes of a frame. */
export function decodeBytes(model: DhtModel, bytes: Uint8Array): DecodeResult {
	if (bytes.length !== 5) return fail("missing_edges", `${bytes.length} bytes instead of 5`);
	const sum = checksumOf(bytes);
	if (sum !== bytes[4]) return fail("checksum", `checksum byte ${bytes[4]}, bytes sum to ${sum}`, bytes);
	let temperature: number;
	let humidity: number;
	if (model === "dht22") {
		humidity = ((bytes[0] << 8) | bytes[1]) / 10;
		temperature = (((bytes[2] & 0x7f) << 8) | bytes[3]) / 10;
		if (bytes[2] & 0x80) temperature = -temperature;
	}
	else {
		const tenth = bytes[3] & 0x7f;
		if (bytes[1] > 9 || tenth > 9) return fail("implausible", `decimal byte over 9 (${bytes[1]}, ${tenth})`, bytes);
		humidity = bytes[0] + bytes[1] / 10;
		temperature = bytes[2] + tenth / 10;
		if (bytes[3] & 0x80) temperature = -temperature;
	}
	temperature = tenths(temperature);
	humidity = tenths(humidity);
	const range = RANGE[model];
	if (!within(temperature, range.tMin, range.tMax)) return fail("implausible", `temperature ${temperature} °C out of range`, bytes);
	if (!within(humidity, range.hMin, range.hMax)) return fail("implausible", `humidity ${humidity} % out of range`, bytes);
	// Some faulty sensors and broken reads produce exactly 1 °C with 1 %: never a real value.
	if (temperature === 1 && humidity === 1) return fail("implausible", "1 °C with 1 %, a known bad read", bytes);
	return { ok: true, temperature, humidity, bytes };
}

/** Decodes a capture into a reading, or says why it cannot. */
export function decodeDht(model: DhtModel, pulses: Pulses): DecodeResult {
	const bits = decodeBits(pulses);
	return bits.ok ? decodeBytes(model, bits.bytes) : bits;
}

/**
 * The 5 bytes a sensor sends for these values (rounded to 0.1), checksum included. For simulators
 * and tests; throws RangeError when the values cannot be represented in the model's format.
 */
export function encodeDhtBytes(model: DhtModel, temperature: number, humidity: number): Uint8Array {
	if (!Number.isFinite(temperature) || !Number.isFinite(humidity) || humidity < 0) {
		throw new RangeError("dht: temperature and humidity must be finite, humidity not negative");
	}
	const t10 = Math.round(Math.abs(temperature) * 10);
	const h10 = Math.round(humidity * 10);
	const negative = temperature < 0 && t10 > 0;
	const bytes = new Uint8Array(5);
	if (model === "dht22") {
		if (t10 > 0x7fff || h10 > 0xffff) throw new RangeError("dht22: value too large to encode");
		bytes[0] = h10 >> 8;
		bytes[1] = h10 & 0xff;
		bytes[2] = (t10 >> 8) | (negative ? 0x80 : 0);
		bytes[3] = t10 & 0xff;
	}
	else {
		if (t10 > 2559 || h10 > 2559) throw new RangeError("dht11: value too large to encode");
		bytes[0] = Math.floor(h10 / 10);
		bytes[1] = h10 % 10;
		bytes[2] = Math.floor(t10 / 10);
		bytes[3] = (t10 % 10) | (negative ? 0x80 : 0);
	}
	bytes[4] = checksumOf(bytes);
	return bytes;
}

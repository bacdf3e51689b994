/*
 * A simulated DHT11 / DHT22 on the host: a PulseCapture that answers the start signal with the
 * pulse train a real sensor would produce (as an RMT receiver records it), with timing jitter and
 * injectable faults, from a seeded PRNG so runs are reproducible.
 *
 * The capture holds: the tail of the host's start pulse and the idle high before the sensor
 * answers (unless hostTail is 0), the 80/80 µs preamble, 40 bits (50 µs low, then 26 µs high for
 * 0 or 70 µs for 1) and the sensor's final 50 µs low. A start pulse shorter than the model needs
 * (DHT22 1 ms, DHT11 18 ms) gets no answer, like the real part.
 */

import type { PulseCapture, Pulses } from "../../modules/dht/capture";
import { encodeDhtBytes, type DhtModel } from "../../modules/dht/decoder";
import { mulberry32 } from "./prng";

export interface DhtValues {
	temperature: number;
	humidity: number;
}

export interface DhtFaults {
	/** Probability that the sensor does not answer at all. */
	noResponse?: number;
	/** Probability that one of the 40 data bits is received inverted. */
	flipBit?: number;
	/** Probability that the capture loses one edge in the data (two durations merge). */
	dropEdge?: number;
	/** Probability that the checksum byte is wrong. */
	badChecksum?: number;
}

export interface SimulatedDhtOptions {
	clock: { set(callback: () => void, ms: number): unknown };
	/** Default "dht22". */
	model?: DhtModel;
	/** What the sensor measures now. */
	reading: () => DhtValues;
	/** Uniform timing jitter on each duration, ± µs. Default 6. */
	jitterUs?: number;
	/** Uniform random in [0, 1). Default seededRandom(0x0dd5eed). */
	random?: () => number;
	faults?: DhtFaults;
	/** Probability that the capture starts with the host pulse's tail and the idle high. Default 1. */
	hostTail?: number;
	/** Delay before the capture calls back, ms. Default 5. */
	latencyMs?: number;
}

/** Nominal timings in µs. */
export const DHT_TIMING = { preambleLow: 80, preambleHigh: 80, bitLow: 50, zeroHigh: 26, oneHigh: 70, endLow: 50 } as const;

/** Least start pulse each model answers, µs. */
export const DHT_MIN_START_US: Record<DhtModel, number> = { dht22: 1000, dht11: 18000 };

/** mulberry32: a small, fast, deterministic PRNG; uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
	return mulberry32(seed);
}

/** A room that drifts slowly: 22.5 °C ± 1.5 and 55 % ± 5 (humidity falls as it warms), one cycle an hour. */
export function indoorModel(clock: { now(): number }): () => DhtValues {
	const periodMs = 3_600_000;
	return () => {
		const phase = Math.sin((2 * Math.PI * clock.now()) / periodMs);
		return { temperature: 22.5 + 1.5 * phase, humidity: 55 - 5 * phase };
	};
}

export interface PulseTrainOptions {
	jitterUs?: number;
	random?: () => number;
	/** Tail of the host's start pulse at the beginning of the capture, µs; 0 for none. */
	hostTailUs?: number;
	/** Idle high between the host's release and the sensor's answer, µs (with a tail only). */
	idleUs?: number;
}

/** The capture of a sensor sending these 5 bytes. */
export function dhtPulseTrain(bytes: ArrayLike<number>, options: PulseTrainOptions = {}): Pulses {
	const jitter = options.jitterUs ?? 0;
	const random = options.random ?? Math.random;
	const out: number[] = [];
	const push = (us: number) => out.push(Math.max(1, Math.round(us + (jitter ? (random() * 2 - 1) * jitter : 0))));
	const tail = options.hostTailUs ?? 0;
	if (tail > 0) {
		out.push(Math.round(tail));
		push(options.idleUs ?? 30);
	}
	push(DHT_TIMING.preambleLow);
	push(DHT_TIMING.preambleHigh);
	for (let bit = 0; bit < 40; bit++) {
		push(DHT_TIMING.bitLow);
		push((bytes[bit >> 3] >> (7 - (bit & 7))) & 1 ? DHT_TIMING.oneHigh : DHT_TIMING.zeroHigh);
	}
	push(DHT_TIMING.endLow);
	return { phase: 0, durations: out };
}

export class SimulatedDht implements PulseCapture {
	readonly #clock: SimulatedDhtOptions["clock"];
	readonly #random: () => number;
	model: DhtModel;
	reading: () => DhtValues;
	faults: DhtFaults;
	jitterUs: number;
	hostTail: number;
	latencyMs: number;
	/** Captures requested so far. */
	captures = 0;
	/** Start pulse of the latest capture, µs. */
	lastStartLowUs: number | undefined;

	constructor(options: SimulatedDhtOptions) {
		this.#clock = options.clock;
		this.#random = options.random ?? seededRandom(0x0dd5eed);
		this.model = options.model ?? "dht22";
		this.reading = options.reading;
		this.faults = { ...options.faults };
		this.jitterUs = options.jitterUs ?? 6;
		this.hostTail = options.hostTail ?? 1;
		this.latencyMs = options.latencyMs ?? 5;
	}

	capture(startLowUs: number, callback: (pulses: Pulses | undefined, error?: string) => void): void {
		this.captures++;
		this.lastStartLowUs = startLowUs;
		const pulses = this.#respond(startLowUs);
		this.#clock.set(() => callback(pulses), this.latencyMs);
	}

	#chance(probability: number | undefined): boolean {
		return probability !== undefined && probability > 0 && this.#random() < probability;
	}

	#respond(startLowUs: number): Pulses {
		const random = this.#random;
		// The capture sees the end of the host's pulse: somewhere between 10 % and all of it.
		const tailUs = Math.round(startLowUs * (0.1 + 0.9 * random()));
		const answers = startLowUs >= DHT_MIN_START_US[this.model] && !this.#chance(this.faults.noResponse);
		if (!answers) return { phase: 0, durations: [tailUs] };
		const values = this.reading();
		const bytes = encodeDhtBytes(this.model, values.temperature, values.humidity);
		if (this.#chance(this.faults.badChecksum)) bytes[4] ^= 1 + Math.floor(random() * 255);
		if (this.#chance(this.faults.flipBit)) {
			const bit = Math.floor(random() * 40);
			bytes[bit >> 3] ^= 0x80 >> (bit & 7);
		}
		const withTail = this.#chance(this.hostTail);
		const train = dhtPulseTrain(bytes, {
			jitterUs: this.jitterUs,
			random,
			hostTailUs: withTail ? tailUs : 0,
			idleUs: 20 + 20 * random(),
		});
		const durations = train.durations as number[];
		if (this.#chance(this.faults.dropEdge)) {
			// Merge two neighbours among the bit durations (after the tail, idle and preamble).
			const first = (withTail ? 2 : 0) + 2;
			const i = first + Math.floor(random() * 80);
			durations.splice(i, 2, durations[i] + durations[i + 1]);
		}
		return train;
	}
}

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
import { DHT_TIMING, dhtPulseTrain, indoorModel, type DhtValues, type PulseTrainOptions } from "../../modules/dht/simulated";
import { mulberry32 } from "./prng";

export { DHT_TIMING, dhtPulseTrain, indoorModel, type DhtValues, type PulseTrainOptions };

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

/** Least start pulse each model answers, µs. */
export const DHT_MIN_START_US: Record<DhtModel, number> = { dht22: 1000, dht11: 18000 };

/** mulberry32: a small, fast, deterministic PRNG; uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
	return mulberry32(seed);
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

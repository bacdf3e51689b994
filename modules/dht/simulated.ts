/*
 * A DHT that is not there: the pulse train a DHT11/DHT22 sends for given values, as a receiver
 * records it, and a room whose temperature and humidity drift slowly. Used by the host simulator
 * (test-host/adapters/dht-sim.ts, which adds jitter and faults) and by the Linux target, where
 * there is no sensor to read (src/adapters/linux/dht.ts).
 */

import type { Pulses } from "dht/capture";
import { deepFreeze } from "frozen";

export interface DhtValues {
	temperature: number;
	humidity: number;
}

/** Nominal timings in µs. */
export const DHT_TIMING = deepFreeze({ preambleLow: 80, preambleHigh: 80, bitLow: 50, zeroHigh: 26, oneHigh: 70, endLow: 50 } as const);

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

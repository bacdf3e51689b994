/*
 * What the DHT driver needs from its platform: one way to send the start signal and capture the
 * sensor's reply as a train of level durations (on the ESP32 this module's native RMT receiver,
 * dht/esp32/dhtcapture, polled by dht/receiver; a simulated sensor on the host).
 */

export interface Pulses {
	/** Level (0 or 1) of the first duration; levels alternate after it. */
	phase: 0 | 1;
	/** Durations in microseconds. */
	durations: ArrayLike<number>;
}

export interface PulseCapture {
	/**
	 * Pulls the data line low for `startLowUs` microseconds, releases it and records the line until it
	 * has been idle. Calls back once, later, with the captured pulses or an error text.
	 */
	capture(startLowUs: number, callback: (pulses: Pulses | undefined, error?: string) => void): void;
}

export interface DhtClock {
	/** Monotonic milliseconds. */
	now(): number;
	set(callback: () => void, ms: number): unknown;
	clear(handle: unknown): void;
}

/** A capture that always fails, later, with `reason`: a DHT that is not wired (no data pin). */
export function unavailableCapture(clock: Pick<DhtClock, "set">, reason: string): PulseCapture {
	return {
		capture(_startLowUs, callback) {
			clock.set(() => callback(undefined, reason), 0);
		},
	};
}

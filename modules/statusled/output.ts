/*
 * What the status LED needs: one output it can switch, and timers.
 */

export interface DigitalOutput {
	/** 1 lights the LED (the adapter handles active-low wiring), 0 turns it off. */
	write(value: 0 | 1): void;
}

export interface LedTimers {
	set(callback: () => void, ms: number): unknown;
	clear(handle: unknown): void;
}

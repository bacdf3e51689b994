/*
 * LEDs (and other digital outputs) for the host.
 *
 * RecordingLed keeps every write with the time it happened, so a test can measure what a person
 * would see: how long the LED was lit in a window and how often it changed. Before the first write
 * the LED counts as dark. NullLed ignores writes.
 */

import type { DigitalOutput } from "../../src/ports";

export interface LedWrite {
	atMs: number;
	value: 0 | 1;
}

export class RecordingLed implements DigitalOutput {
	readonly #now: () => number;
	/** Every write, in order, including ones that did not change the level. */
	readonly writes: LedWrite[] = [];

	/** @param now the current time in ms, e.g. `() => clock.now()`. */
	constructor(now: () => number) {
		this.#now = now;
	}

	write(value: 0 | 1): void {
		this.writes.push({ atMs: this.#now(), value });
	}

	/** The level last written (0 before any write). */
	get level(): 0 | 1 {
		return this.writes.length ? this.writes[this.writes.length - 1].value : 0;
	}

	/** The level just after every write made at or before `ms`. */
	levelAt(ms: number): 0 | 1 {
		let level: 0 | 1 = 0;
		for (const w of this.writes) {
			if (w.atMs > ms) break;
			level = w.value;
		}
		return level;
	}

	/** Milliseconds the LED was lit within [fromMs, toMs). */
	onTimeMs(fromMs: number, toMs: number): number {
		let total = 0;
		let level = this.levelAt(fromMs);
		let since = fromMs;
		for (const w of this.writes) {
			if (w.atMs <= fromMs) continue;
			if (w.atMs >= toMs) break;
			if (level) total += w.atMs - since;
			level = w.value;
			since = w.atMs;
		}
		if (level && toMs > since) total += toMs - since;
		return total;
	}

	/** Number of writes within [fromMs, toMs) that changed the level. */
	transitions(fromMs: number, toMs: number): number {
		let count = 0;
		let level: 0 | 1 = 0;
		for (const w of this.writes) {
			if (w.atMs >= toMs) break;
			if (w.atMs >= fromMs && w.value !== level) count++;
			level = w.value;
		}
		return count;
	}

	/** Number of writes within [fromMs, toMs) that left the level as it was. */
	redundantWrites(fromMs: number, toMs: number): number {
		let count = 0;
		let level: 0 | 1 | undefined;
		for (const w of this.writes) {
			if (w.atMs >= toMs) break;
			if (w.atMs >= fromMs && w.value === level) count++;
			level = w.value;
		}
		return count;
	}
}

export class NullLed implements DigitalOutput {
	write(_value: 0 | 1): void {}
}

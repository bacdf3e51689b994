/*
 * LEDs (and other digital outputs) for the host.
 *
 * RecordingLed keeps the most recent writes with the time they happened, so a test can measure
 * what a person would see: how long the LED was lit in a window and how often it changed. Before
 * the first write the LED counts as dark. NullLed ignores writes.
 *
 * The simulator lives as long as the device it runs, and a blinking LED is written several times a
 * second, so the recorder is bounded: a ring of the last `capacity` writes, plus a summary of every
 * write that has left the ring (counts, time lit, the level it left). Questions about any time
 * from the first write onwards are answered exactly as long as they do not start or end inside the
 * forgotten stretch; one that does throws a RangeError rather than guess.
 */

import type { DigitalOutput } from "../../src/ports";

export interface LedWrite {
	atMs: number;
	value: 0 | 1;
}

/** Writes kept by default: at 5 Hz (the fast pattern, 10 writes a second) the last ~7 minutes. */
export const LED_HISTORY = 4096;

/** What is known about every write made before a point in time. */
interface Summary {
	/** Writes that changed the level (the LED starts dark). */
	changes: number;
	/** Writes that left the level as the previous write had set it. */
	redundant: number;
	/** Milliseconds lit from the first write up to `atMs`. */
	litMs: number;
	/** The level after those writes, and the previous write's value (undefined before any). */
	level: 0 | 1;
	previous: 0 | 1 | undefined;
	/** Time of the last write summarised (-Infinity before any). */
	atMs: number;
}

const EMPTY: Summary = Object.freeze({ changes: 0, redundant: 0, litMs: 0, level: 0, previous: undefined, atMs: -Infinity });

export class RecordingLed implements DigitalOutput {
	readonly #now: () => number;
	readonly capacity: number;
	/** The ring: `#size` writes, the oldest at `#head`. */
	readonly #ring: LedWrite[] = [];
	#head = 0;
	/** Every write that has left the ring. */
	#forgotten: Summary = EMPTY;
	#firstAtMs: number | undefined;
	#count = 0;
	#changes = 0;
	#level: 0 | 1 = 0;

	/**
	 * @param now the current time in ms, e.g. `() => clock.now()`.
	 * @param capacity how many of the latest writes to keep (LED_HISTORY by default).
	 */
	constructor(now: () => number, capacity = LED_HISTORY) {
		if (!(capacity >= 1) || !Number.isInteger(capacity)) throw new RangeError(`capacity must be a whole number >= 1, not ${capacity}`);
		this.#now = now;
		this.capacity = capacity;
	}

	write(value: 0 | 1): void {
		const entry: LedWrite = { atMs: this.#now(), value };
		this.#firstAtMs ??= entry.atMs;
		this.#count++;
		if (value !== this.#level) this.#changes++;
		this.#level = value;
		if (this.#ring.length < this.capacity) {
			this.#ring.push(entry);
			return;
		}
		this.#forgotten = step(this.#forgotten, this.#ring[this.#head]);
		this.#ring[this.#head] = entry;
		this.#head = (this.#head + 1) % this.capacity;
	}

	/** The writes still kept (the last `capacity`), oldest first: a copy. */
	get writes(): LedWrite[] {
		return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
	}

	/** How many writes are kept now: never more than `capacity`. */
	get size(): number {
		return this.#ring.length;
	}

	/** Writes since the recorder was made, kept or not. */
	get writeCount(): number {
		return this.#count;
	}

	/** Writes since the recorder was made that changed the level. */
	get changeCount(): number {
		return this.#changes;
	}

	/** Writes no longer kept. */
	get forgotten(): number {
		return this.#count - this.#ring.length;
	}

	/** The level last written (0 before any write). */
	get level(): 0 | 1 {
		return this.#level;
	}

	/** The level just after every write made at or before `ms`. */
	levelAt(ms: number): 0 | 1 {
		return this.#before(ms, true).level;
	}

	/** Milliseconds the LED was lit within [fromMs, toMs). */
	onTimeMs(fromMs: number, toMs: number): number {
		if (!(toMs > fromMs)) return 0;
		return this.#litUntil(toMs) - this.#litUntil(fromMs);
	}

	/** Number of writes within [fromMs, toMs) that changed the level. */
	transitions(fromMs: number, toMs: number): number {
		if (!(toMs > fromMs)) return 0;
		return this.#before(toMs, false).changes - this.#before(fromMs, false).changes;
	}

	/** Number of writes within [fromMs, toMs) that left the level as it was. */
	redundantWrites(fromMs: number, toMs: number): number {
		if (!(toMs > fromMs)) return 0;
		return this.#before(toMs, false).redundant - this.#before(fromMs, false).redundant;
	}

	/** Milliseconds lit before `ms` (from the first write). */
	#litUntil(ms: number): number {
		const s = this.#before(ms, false);
		return s.litMs + (s.level && ms > s.atMs ? ms - s.atMs : 0);
	}

	/** The summary of every write made before `ms` (or at it, when `inclusive`). */
	#before(ms: number, inclusive: boolean): Summary {
		const included = (w: LedWrite) => (inclusive ? w.atMs <= ms : w.atMs < ms);
		if (this.#firstAtMs === undefined || ms < this.#firstAtMs || (!inclusive && ms === this.#firstAtMs)) return EMPTY;
		const known = this.#forgotten;
		// Inside the forgotten stretch (after the first write, up to the last forgotten one), only
		// the totals are left: the answer would be a guess.
		if (this.forgotten > 0 && (inclusive ? ms < known.atMs : ms <= known.atMs)) {
			throw new RangeError(`RecordingLed keeps the last ${this.capacity} writes: ${ms} ms is before the oldest one kept (${this.#ring[this.#head].atMs} ms)`);
		}
		let s = known;
		for (let i = 0; i < this.#ring.length; i++) {
			const w = this.#ring[(this.#head + i) % this.#ring.length];
			if (!included(w)) break;
			s = step(s, w);
		}
		return s;
	}
}

/** The summary after one more write. */
function step(s: Summary, w: LedWrite): Summary {
	return {
		changes: s.changes + (w.value !== s.level ? 1 : 0),
		redundant: s.redundant + (w.value === s.previous ? 1 : 0),
		litMs: s.litMs + (s.level && w.atMs > s.atMs ? w.atMs - s.atMs : 0),
		level: w.value,
		previous: w.value,
		atMs: w.atMs,
	};
}

export class NullLed implements DigitalOutput {
	write(_value: 0 | 1): void {}
}

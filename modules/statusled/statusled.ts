/*
 * The status LED: one output, a few patterns named by what they mean, not by their timing.
 *
 * - Patterns are data (PATTERNS): each is a cycle of steps, a level held for some milliseconds.
 *   A pattern of a single step is steady: it is written once and needs no timer.
 * - One one-shot timer at a time, re-armed at each step; nothing runs while the LED is steady.
 *   (Each step adds the timer's latency, so a blink may lag by a few ms over hours; nobody can see it.)
 * - The output is written when the level changes, and once at the start of every pattern,
 *   so a set() always puts the pin in a known state.
 * - set() to the current pattern does nothing; to another restarts at its first step and calls
 *   onChange once. close() stops the timer and leaves the LED dark; later set() calls are ignored.
 */

import type { DigitalOutput, LedTimers } from "statusled/output";

export type { DigitalOutput, LedTimers } from "statusled/output";

export type LedPattern = "off" | "on" | "slow" | "fast" | "error" | "setup" | "updating";

export interface LedStep {
	/** 1 lit, 0 dark. */
	readonly level: 0 | 1;
	/** How long the level is held, in ms. Unused (0) in a steady, single-step pattern. */
	readonly ms: number;
}

function steps(...pairs: [0 | 1, number][]): readonly LedStep[] {
	return Object.freeze(pairs.map(([level, ms]) => Object.freeze({ level, ms })));
}

/** Every pattern, one cycle each; the cycle repeats until another pattern is set. */
export const PATTERNS: Readonly<Record<LedPattern, readonly LedStep[]>> = Object.freeze({
	/** Dark. */
	off: steps([0, 0]),
	/** Solid on. */
	on: steps([1, 0]),
	/** 1 Hz: 500 ms on, 500 ms off. */
	slow: steps([1, 500], [0, 500]),
	/** 5 Hz: 100 ms on, 100 ms off. */
	fast: steps([1, 100], [0, 100]),
	/** Three 100 ms flashes 100 ms apart, then 1000 ms dark: a 1500 ms cycle. */
	error: steps([1, 100], [0, 100], [1, 100], [0, 100], [1, 100], [0, 1000]),
	/** Setup mode (access point open): 1500 ms on, 500 ms off. */
	setup: steps([1, 1500], [0, 500]),
	/** A firmware update: 50 ms flash, 250 ms dark, 50 ms flash, 650 ms dark (a 1 s double blink). */
	updating: steps([1, 50], [0, 250], [1, 50], [0, 650]),
});

export function isLedPattern(name: unknown): name is LedPattern {
	return typeof name === "string" && Object.hasOwn(PATTERNS, name);
}

export interface StatusLedOptions {
	output: DigitalOutput;
	timers: LedTimers;
	/** Called once per change of pattern made by set() (not by close()). */
	onChange?: (pattern: LedPattern) => void;
}

export class StatusLed {
	readonly #output: DigitalOutput;
	readonly #timers: LedTimers;
	readonly #onChange: ((pattern: LedPattern) => void) | undefined;
	#pattern: LedPattern = "off";
	#step = 0;
	#level: 0 | 1 = 0;
	#timer: unknown = undefined;
	/** Bumped on every restart and on close, so a callback from a cancelled timer does nothing. */
	#generation = 0;
	#closed = false;
	/** A pattern held over whatever set() asks for (a firmware update), and what set() asked meanwhile. */
	#held: LedPattern | undefined;
	#requested: LedPattern = "off";

	/** Starts dark ("off"), writing 0 so the pin is in a known state. */
	constructor(options: StatusLedOptions) {
		this.#output = options.output;
		this.#timers = options.timers;
		this.#onChange = options.onChange;
		this.#write(0, true);
	}

	/** The pattern being shown ("off" once closed). */
	get pattern(): LedPattern {
		return this.#pattern;
	}

	/** Shows `pattern`. Throws RangeError for a name that is not in PATTERNS. */
	set(pattern: LedPattern): void {
		if (!isLedPattern(pattern)) throw new RangeError(`statusled: unknown pattern "${String(pattern)}" (expected one of ${Object.keys(PATTERNS).join(", ")})`);
		this.#requested = pattern;
		if (this.#held === undefined) this.#show(pattern);
	}

	/**
	 * Shows `pattern` over whatever set() asks for until hold(undefined), which goes back to the
	 * pattern set() asked for last (the connection's state after a firmware update's download).
	 */
	hold(pattern: LedPattern | undefined): void {
		if (pattern !== undefined && !isLedPattern(pattern)) throw new RangeError(`statusled: unknown pattern "${String(pattern)}"`);
		this.#held = pattern;
		this.#show(pattern ?? this.#requested);
	}

	#show(pattern: LedPattern): void {
		if (this.#closed || pattern === this.#pattern) return;
		this.#stop();
		this.#pattern = pattern;
		this.#step = 0;
		this.#write(PATTERNS[pattern][0].level, true);
		this.#arm();
		this.#onChange?.(pattern);
	}

	/** Cancels the timer and turns the LED off for good. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		this.#stop();
		this.#pattern = "off";
		this.#write(0, false);
	}

	#stop(): void {
		this.#generation++;
		if (this.#timer !== undefined) this.#timers.clear(this.#timer);
		this.#timer = undefined;
	}

	/** Arms the timer for the end of the current step, unless the pattern is steady. */
	#arm(): void {
		const cycle = PATTERNS[this.#pattern];
		if (cycle.length < 2) return;
		const generation = this.#generation;
		this.#timer = this.#timers.set(() => {
			if (generation !== this.#generation) return;
			this.#timer = undefined;
			this.#advance();
		}, cycle[this.#step].ms);
	}

	#advance(): void {
		const cycle = PATTERNS[this.#pattern];
		this.#step = (this.#step + 1) % cycle.length;
		this.#write(cycle[this.#step].level, false);
		this.#arm();
	}

	#write(level: 0 | 1, force: boolean): void {
		if (!force && level === this.#level) return;
		this.#level = level;
		this.#output.write(level);
	}
}

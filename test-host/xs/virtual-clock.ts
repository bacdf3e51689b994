/*
 * A deterministic virtual clock for the XS scenario, in plain ECMAScript (no setImmediate, no
 * performance, no Date.now): ordered one-shot and repeating timers, and advance(ms), which fires
 * every timer due in order, synchronously. test-host/adapters/clock.ts cannot be bundled for XS
 * as it is (its run() settles real I/O with setImmediate, RealClock uses performance and Node
 * timers), so this is its platform-free subset.
 *
 * One timeline serves the whole simulated world: the device's Clock port (uptime, its own idea of
 * the wall time, set by SNTP) and the world around it (the true wall time for SNTP and the broker).
 * The device boots at virtual time 0, so its uptime is the virtual time.
 */

import type { Clock, TimerHandle } from "../../src/ports";
import { TimerQueue, type QueuedTimer } from "../adapters/timer-queue";


/** Timers one advance() may fire before it decides that something loops. */
const MAX_FIRINGS = 2_000_000;

export class VirtualClock implements Clock {
	readonly #worldEpochMs: number;
	#now = 0;
	readonly #timers = new TimerQueue();
	#wallOffset = 0;
	/** Timers fired so far. */
	fired = 0;

	/** @param worldEpochMs the true wall-clock time at virtual time 0 (what SNTP will answer). */
	constructor(worldEpochMs: number) {
		this.#worldEpochMs = worldEpochMs;
	}

	/* Clock port (the device's view) ------------------------------------------------------ */

	now(): number {
		return this.#now;
	}
	/** The device's wall clock: 1970 plus uptime until setWallTime(). */
	wallTime(): number {
		return this.#wallOffset + this.#now;
	}
	setWallTime(epochMs: number): void {
		this.#wallOffset = epochMs - this.#now;
	}
	set(callback: () => void, ms: number): TimerHandle {
		return this.#schedule(callback, ms, 0);
	}
	repeat(callback: () => void, ms: number): TimerHandle {
		return this.#schedule(callback, ms, Math.max(1, ms));
	}
	clear(handle: TimerHandle): void {
		if (handle) this.#timers.cancel(handle as QueuedTimer);
	}

	/* The world ------------------------------------------------------------------------------ */

	/** The true wall-clock time, ms since 1970. */
	worldTime(): number {
		return this.#worldEpochMs + this.#now;
	}

	/** Timers waiting to fire. */
	get pending(): number {
		return this.#timers.size;
	}

	/** Runs `callback` at virtual time `atMs` (for the scenario's script). */
	at(atMs: number, callback: () => void): TimerHandle {
		if (atMs < this.#now) throw new RangeError(`virtual time ${atMs} ms is in the past (now ${this.#now} ms)`);
		return this.#schedule(callback, atMs - this.#now, 0);
	}

	/** Fires every timer due within `ms` from now, in order (time, then scheduling order), then sets now to the end. */
	advance(ms: number): void {
		this.advanceTo(this.#now + ms);
	}

	advanceTo(endMs: number): void {
		let firings = 0;
		for (let due = this.#timers.next(endMs); due; due = this.#timers.next(endMs)) {
			if (++firings > MAX_FIRINGS) throw new Error(`virtual clock: over ${MAX_FIRINGS} timers before ${endMs} ms; something reschedules itself without end`);
			this.#now = due.at;
			this.fired++;
			due.callback();
		}
		if (endMs > this.#now) this.#now = endMs;
	}

	#schedule(callback: () => void, ms: number, interval: number): QueuedTimer {
		if (typeof callback !== "function") throw new TypeError("virtual clock: callback must be a function");
		const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
		return this.#timers.add(this.#now + delay, interval, callback);
	}
}

/*
 * Clocks for the host.
 *
 * VirtualTime is a simulated world: a monotonic "now", the true wall-clock time, and an ordered
 * set of timers. Each simulated device gets a VirtualClock on it (its own idea of the wall time,
 * set by SNTP). advance() runs hours of device life in milliseconds; run() does the same while
 * letting real I/O (in-process streams, sockets) settle between timers.
 *
 * RealClock is the wall clock and Node timers, for `npm start`.
 */

import type { Clock, TimerHandle } from "../../src/ports";
import { TimerQueue, type QueuedTimer } from "./timer-queue";

type Timer = QueuedTimer<VirtualClock>;

/** Wall-clock time in ms since 1970 with one-shot timers: what a broker needs. */
export interface WorldClock {
	now(): number;
	set(callback: () => void, ms: number): unknown;
	clear(handle: unknown): void;
}

export const realWorldClock: WorldClock = {
	now: () => Date.now(),
	set: (callback, ms) => setTimeout(callback, ms),
	clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export class VirtualTime {
	#now = 0;
	readonly #timers = new TimerQueue<VirtualClock>();
	#worldEpochAtZero: number;
	/** Called after each timer fires, e.g. to count activity; optional. */
	onTick: (() => void) | undefined;

	/** @param worldEpochMs the true wall-clock time at virtual time 0. */
	constructor(worldEpochMs = Date.UTC(2026, 10, 22, 8, 0, 0)) {
		this.#worldEpochAtZero = worldEpochMs;
	}

	/** Virtual milliseconds since the world started. */
	get now(): number {
		return this.#now;
	}

	/** True wall-clock time of the simulated world, ms since 1970. */
	worldTime(): number {
		return this.#worldEpochAtZero + this.#now;
	}

	get pendingTimers(): number {
		return this.#timers.size;
	}

	/** The world's own wall clock and timers (for brokers and backends in the simulation). */
	worldClock(): WorldClock {
		return {
			now: () => this.worldTime(),
			set: (callback, ms) => this.schedule(callback, ms, 0),
			clear: (handle) => this.cancel(handle as Timer),
		};
	}

	/** A device clock on this world; its wall time starts near 1970 until set. */
	clock(): VirtualClock {
		return new VirtualClock(this);
	}

	schedule(callback: () => void, ms: number, interval: number, owner?: VirtualClock): Timer {
		return this.#timers.add(this.#now + Math.max(0, ms), interval, callback, owner);
	}

	cancel(timer: Timer): void {
		this.#timers.cancel(timer);
	}

	cancelOwned(owner: VirtualClock): void {
		this.#timers.cancelOwned(owner);
	}

	/** Runs every timer due within `ms`, synchronously, then sets now to the end. */
	advance(ms: number): void {
		const end = this.#now + ms;
		while (this.#fireNext(end));
		this.#now = end;
	}

	/**
	 * Like advance(), but after each timer (and before moving time) lets pending real I/O run
	 * (promise jobs, nextTick, immediates) until `settle` reports quiet.
	 */
	async run(ms: number, settle: () => Promise<void> = settleIo): Promise<void> {
		const end = this.#now + ms;
		await settle();
		while (this.#fireNext(end)) await settle();
		this.#now = end;
		await settle();
	}

	/** Runs until `done()` is true (checked after each timer), at most `maxMs`. Returns whether it became true. */
	async runUntil(done: () => boolean, maxMs: number, settle: () => Promise<void> = settleIo): Promise<boolean> {
		const end = this.#now + maxMs;
		await settle();
		if (done()) return true;
		while (this.#fireNext(end)) {
			await settle();
			if (done()) return true;
		}
		this.#now = end;
		await settle();
		return done();
	}

	/** Fires the next timer due by `end`; false when there is none. */
	#fireNext(end: number): boolean {
		const due = this.#timers.next(end);
		if (!due) return false;
		this.#now = due.at;
		due.callback();
		this.onTick?.();
		return true;
	}
}

/** Lets in-process I/O progress: several turns of the event loop. */
export async function settleIo(turns = 6): Promise<void> {
	for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export class VirtualClock implements Clock {
	readonly time: VirtualTime;
	readonly #bootAt: number;
	#wallOffset: number;

	constructor(time: VirtualTime) {
		this.time = time;
		this.#bootAt = time.now;
		// Before SNTP the board's clock starts at 1970 plus its uptime.
		this.#wallOffset = 0;
	}

	now(): number {
		return this.time.now - this.#bootAt;
	}
	wallTime(): number {
		return this.#wallOffset + this.now();
	}
	setWallTime(epochMs: number): void {
		this.#wallOffset = epochMs - this.now();
	}
	set(callback: () => void, ms: number): TimerHandle {
		return this.time.schedule(callback, ms, 0, this);
	}
	repeat(callback: () => void, ms: number): TimerHandle {
		return this.time.schedule(callback, ms, Math.max(1, ms), this);
	}
	clear(handle: TimerHandle): void {
		if (handle) this.time.cancel(handle as Timer);
	}
	/** Cancels every timer of this clock (the device was switched off). */
	dispose(): void {
		this.time.cancelOwned(this);
	}
}

export class RealClock implements Clock {
	readonly #start = performance.now();
	#wallOffset = 0;
	#timers = new Set<ReturnType<typeof setTimeout>>();

	constructor(options: { wallClockValid?: boolean } = {}) {
		// A host already knows the time; the simulated board does not until SNTP (default).
		if (options.wallClockValid) this.#wallOffset = Date.now() - this.now();
	}

	now(): number {
		return Math.floor(performance.now() - this.#start);
	}
	wallTime(): number {
		return this.#wallOffset + this.now();
	}
	setWallTime(epochMs: number): void {
		this.#wallOffset = epochMs - this.now();
	}
	set(callback: () => void, ms: number): TimerHandle {
		const handle = setTimeout(() => {
			this.#timers.delete(handle);
			callback();
		}, Math.max(0, ms));
		this.#timers.add(handle);
		return handle;
	}
	repeat(callback: () => void, ms: number): TimerHandle {
		const handle = setInterval(callback, Math.max(1, ms));
		this.#timers.add(handle);
		return handle;
	}
	clear(handle: TimerHandle): void {
		if (!handle) return;
		clearTimeout(handle as ReturnType<typeof setTimeout>);
		clearInterval(handle as ReturnType<typeof setTimeout>);
		this.#timers.delete(handle as ReturnType<typeof setTimeout>);
	}
	dispose(): void {
		for (const t of this.#timers) {
			clearTimeout(t);
			clearInterval(t);
		}
		this.#timers.clear();
	}
}

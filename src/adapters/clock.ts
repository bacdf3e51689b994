/*
 * Clock port over Moddable's `timer` and `time` modules.
 *
 * Time.ticks counts milliseconds as a 32-bit integer (the FreeRTOS tick count on the ESP32), so it
 * wraps: negative after about 24.8 days, back where it started after about 49.7 days. now() folds
 * it into a counter that keeps going for years: every reading adds the difference from the
 * previous reading modulo 2^32, and an hourly timer takes a reading so that no wrap is missed
 * while the application is quiet.
 *
 * Timer handles are small objects, so clearing a one-shot timer that has already fired (which
 * Moddable frees) is harmless. An exception escaping a callback is reported and swallowed: the
 * logic is written not to throw, and a stray one must not stop every other timer.
 */

import Time from "time";
import Timer from "timer";
import type { Clock, TimerHandle } from "../ports";

/** What this adapter relies on (the published typings give timers other types in some releases). */
interface Timers {
	set(callback: () => void, interval: number): unknown;
	repeat(callback: () => void, interval: number): unknown;
	clear(id: unknown): void;
}

const timers = Timer as unknown as Timers;
const time = Time as unknown as { readonly ticks: number; set(seconds: number): void };

const WRAP_CHECK_MS = 60 * 60 * 1000;

interface Handle {
	/** The Moddable timer; undefined once a one-shot has fired or the timer was cleared. */
	id: unknown;
}

function run(callback: () => void): void {
	try {
		callback();
	}
	catch (e) {
		trace(`<error>uncaught exception in a timer callback: ${String(e)}\n`);
	}
}

export class ModdableClock implements Clock {
	#last: number;
	#elapsed: number;

	constructor() {
		// Counted from here: on the ESP32 ticks start at boot, but on Moddable's Linux runtime they
		// are the host's monotonic clock, and uptime is the firmware's own.
		this.#last = time.ticks;
		this.#elapsed = 0;
		timers.repeat(() => this.now(), WRAP_CHECK_MS);
	}

	now(): number {
		const ticks = time.ticks;
		this.#elapsed += (ticks - this.#last) >>> 0;
		this.#last = ticks;
		return this.#elapsed;
	}

	wallTime(): number {
		return Date.now();
	}

	setWallTime(epochMs: number): void {
		// Whole seconds: the native side drops fractions anyway.
		time.set(Math.floor(epochMs / 1000));
	}

	set(callback: () => void, ms: number): TimerHandle {
		const handle: Handle = { id: undefined };
		handle.id = timers.set(() => {
			handle.id = undefined;
			run(callback);
		}, Math.max(0, ms));
		return handle;
	}

	repeat(callback: () => void, ms: number): TimerHandle {
		const handle: Handle = { id: undefined };
		handle.id = timers.repeat(() => run(callback), Math.max(1, ms));
		return handle;
	}

	clear(handle: TimerHandle): void {
		const h = handle as Handle | undefined;
		if (!h || typeof h !== "object" || h.id === undefined) return;
		timers.clear(h.id);
		h.id = undefined;
	}
}

/*
 * A PulseCapture over a native receiver that sends the start signal and records the reply by
 * itself, polled from a timer (on the ESP32: dht/esp32/dhtcapture, ESP-IDF's RMT receiver).
 *
 * - The receiver stores RMT symbols: two 16-bit entries each, `level << 15 | duration` in µs, a
 *   zero duration marking the end of the frame. receiverPulses() turns them into the alternating
 *   levels of a Pulses (equal neighbours merged) for dht/decoder.
 * - One capture at a time. start() sends the start signal and arms the receiver; read() is polled
 *   every POLL_MS until the frame has ended. A frame ends 200 µs after the line's last change, so
 *   a reply (~4.5 ms), or the lone idle high when no sensor answers, is there at the first or
 *   second poll. A line stuck low never changes: after TIMEOUT_MS the receive is abandoned with
 *   abort() and the capture fails.
 * - The callback comes once and later (from a timer), never from capture(). Every exception is
 *   caught: the receiver's become the capture's error text, the callback's go to onCallbackError.
 *   None may leave a timer callback: on XS an uncaught exception there restarts the board.
 */

import type { DhtClock, PulseCapture, Pulses } from "dht/capture";

/** What the native part provides (dht/esp32/dhtcapture on the ESP32). */
export interface DhtReceiver {
	/** Drives the line low for `startLowUs`, then releases it with the receiver armed. */
	start(startLowUs: number): void;
	/** -1 while the frame has not ended; then the number of entries written to `buffer`. */
	read(buffer: Uint16Array): number;
	/** Abandons a receive that has not ended. */
	abort(): void;
	close(): void;
}

export interface ReceiverCaptureOptions {
	receiver: DhtReceiver;
	clock: DhtClock;
	/** An exception the capture callback threw (it goes no further). */
	onCallbackError?: (error: unknown) => void;
}

type CaptureCallback = (pulses: Pulses | undefined, error?: string) => void;

/** Interval between reads of the receiver, ms. */
export const POLL_MS = 5;
/** A capture without a complete frame after this long fails, ms. */
export const TIMEOUT_MS = 50;
/** Entries the receiver may write: 64 symbols (a reply is about 43). */
export const ENTRIES = 128;

const LEVEL = 0x8000;
const DURATION = 0x7fff;

/**
 * The pulse train in `count` receiver entries (level << 15 | duration): levels alternate from
 * `phase`; an entry at the level of the one before lengthens it; a zero duration ends the frame.
 */
export function receiverPulses(entries: ArrayLike<number>, count: number): Pulses {
	const durations: number[] = [];
	let phase: 0 | 1 = 1;
	let level: 0 | 1 = 1;
	const n = Math.min(count, entries.length);
	for (let i = 0; i < n; i++) {
		const entry = entries[i];
		const duration = entry & DURATION;
		if (!duration) break;
		const entryLevel: 0 | 1 = entry & LEVEL ? 1 : 0;
		if (durations.length && entryLevel === level) durations[durations.length - 1] += duration;
		else {
			if (!durations.length) phase = entryLevel;
			durations.push(duration);
			level = entryLevel;
		}
	}
	return { phase, durations };
}

function describe(e: unknown): string {
	return e instanceof Error ? e.message : String(e);
}

export class ReceiverCapture implements PulseCapture {
	readonly #receiver: DhtReceiver;
	readonly #clock: DhtClock;
	readonly #onCallbackError: ((error: unknown) => void) | undefined;
	readonly #entries = new Uint16Array(ENTRIES);
	/** The capture in progress: its callback and poll timer. */
	#pending: { callback: CaptureCallback; timer: unknown } | undefined;
	#closed = false;

	constructor(options: ReceiverCaptureOptions) {
		this.#receiver = options.receiver;
		this.#clock = options.clock;
		this.#onCallbackError = options.onCallbackError;
	}

	capture(startLowUs: number, callback: CaptureCallback): void {
		if (this.#closed) return this.#later(callback, "capture closed");
		if (this.#pending) return this.#later(callback, "a capture is already running");
		try {
			this.#receiver.start(startLowUs);
		}
		catch (e) {
			return this.#later(callback, `start signal: ${describe(e)}`);
		}
		const started = this.#clock.now();
		const pending: { callback: CaptureCallback; timer: unknown } = { callback, timer: undefined };
		const poll = () => {
			pending.timer = undefined;
			if (this.#pending !== pending) return;
			let count: number;
			try {
				count = this.#receiver.read(this.#entries);
			}
			catch (e) {
				this.#abort();
				return this.#finish(undefined, `receiver read: ${describe(e)}`);
			}
			if (count >= 0) return this.#finish(receiverPulses(this.#entries, count));
			if (this.#clock.now() - started >= TIMEOUT_MS) {
				this.#abort();
				return this.#finish(undefined, `no end of frame within ${TIMEOUT_MS} ms: the data line did not move (stuck low? check the wiring and pull-up)`);
			}
			pending.timer = this.#clock.set(poll, POLL_MS);
		};
		this.#pending = pending;
		pending.timer = this.#clock.set(poll, POLL_MS);
	}

	/** Abandons a capture in progress (its callback gets an error, later) and closes the receiver. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		const pending = this.#pending;
		if (pending) {
			if (pending.timer !== undefined) this.#clock.clear(pending.timer);
			this.#abort();
			this.#pending = undefined;
			this.#later(pending.callback, "capture closed");
		}
		try {
			this.#receiver.close();
		}
		catch {
			// Nothing more to free.
		}
	}

	#abort(): void {
		try {
			this.#receiver.abort();
		}
		catch {
			// The next start() abandons it again or reports why it cannot.
		}
	}

	#finish(pulses: Pulses | undefined, error?: string): void {
		const pending = this.#pending;
		this.#pending = undefined;
		if (pending) this.#call(pending.callback, pulses, error);
	}

	#later(callback: CaptureCallback, error: string): void {
		this.#clock.set(() => this.#call(callback, undefined, error), 0);
	}

	#call(callback: CaptureCallback, pulses: Pulses | undefined, error: string | undefined): void {
		try {
			if (error === undefined) callback(pulses);
			else callback(pulses, error);
		}
		catch (e) {
			try {
				this.#onCallbackError?.(e);
			}
			catch {
				// It must not reach the timer.
			}
		}
	}
}

/*
 * PulseCapture port for the DHT data line: the start signal with `pins/digital`, the reply
 * recorded by the ESP32's RMT peripheral through `pins/rmt` in receive mode.
 *
 * - The RMT receiver is set up once, on the data pin, before any read: the sensor answers 20-40 µs
 *   after the host releases the line, too soon to start a receiver then.
 * - Divider 80: the 80 MHz APB clock gives 1 µs ticks, so durations come out in microseconds.
 *   Filter 100 APB cycles: glitches shorter than 1.25 µs are ignored. Idle threshold 200 µs: a frame
 *   ends when the line has not changed for that long, longer than any pulse of a reply (the
 *   decoder accepts up to 130 µs), so one reply is one frame.
 * - The start signal: the pin is driven low for the requested time (busy-waiting on
 *   Time.microseconds when the SDK's microseconds module is in the build, otherwise on Time.ticks,
 *   rounding up so the pulse is never shorter: 1.1 ms becomes 2-3 ms, which DHT22s accept), then
 *   released to an input with pull-up. The receiver records the start pulse as a frame of its own
 *   and the reply as the next one; frames are read with a short timer until the reply is complete
 *   or 50 ms have passed, then joined into one pulse train (the decoder skips the leading part).
 * - RMT channel: on the ESP32-S3 only channels 4 to 7 receive (0 to 3 transmit); the NeoPixel
 *   driver uses a transmit channel.
 *
 * pins/rmt uses ESP-IDF's legacy RMT driver: it builds on SDKs based on ESP-IDF 4.4 only.
 */

import Digital from "pins/digital";
import RMT from "pins/rmt";
import Time from "time";
import Timer from "timer";
import type { Pulses } from "dht/capture";
import type { PulseCapture } from "../ports";

export interface RmtDhtOptions {
	/** GPIO of the DHT data line. */
	pin: number;
	/** RMT receive channel (4..7 on the ESP32-S3). */
	channel: number;
}

interface Receiver {
	read(buffer: ArrayBuffer): { count: number; phase: number };
	close(): void;
}
interface Frame {
	phase: 0 | 1;
	durations: number[];
}

const Receiver = RMT as unknown as new (options: Record<string, unknown>) => Receiver;
const timers = Timer as unknown as { set(callback: () => void, interval: number): unknown };
const time = Time as unknown as { readonly ticks: number; readonly microseconds?: number };

const DIVIDER = 80;
const FILTER_APB_CYCLES = 100;
const IDLE_US = 200;
const RING_BUFFER_BYTES = 1024;
const POLL_MS = 5;
const TIMEOUT_MS = 50;
/** Preamble (2) and 40 bits (80): a reply is at least this many durations. */
const REPLY_DURATIONS = 82;
/** Bound on a busy-wait, should the tick counter not move. */
const MAX_SPINS = 500_000;

export class RmtDhtCapture implements PulseCapture {
	readonly #buffer = new ArrayBuffer(RING_BUFFER_BYTES);
	#receiver: Receiver | undefined;
	#line: Digital | undefined;
	#error: string | undefined;
	#busy = false;

	constructor(options: RmtDhtOptions) {
		try {
			this.#receiver = new Receiver({
				pin: options.pin,
				channel: options.channel,
				divider: DIVIDER,
				direction: "rx",
				filter: FILTER_APB_CYCLES,
				timeout: IDLE_US,
				ringbufferSize: RING_BUFFER_BYTES,
			});
			this.#line = new Digital({ pin: options.pin, mode: Digital.InputPullUp });
		}
		catch (e) {
			this.#error = `RMT receiver on GPIO ${options.pin}, channel ${options.channel}: ${String(e)}`;
		}
	}

	capture(startLowUs: number, callback: (pulses: Pulses | undefined, error?: string) => void): void {
		const fail = (error: string) => timers.set(() => callback(undefined, error), 0);
		const receiver = this.#receiver;
		const line = this.#line;
		if (!receiver || !line) return void fail(this.#error ?? "no RMT receiver");
		if (this.#busy) return void fail("a capture is already running");
		this.#busy = true;

		const frames: Frame[] = [];
		try {
			this.#collect(frames);
			frames.length = 0; // stale frames: noise since the last read
			line.mode(Digital.Output);
			line.write(0);
			hold(startLowUs);
			line.mode(Digital.InputPullUp);
		}
		catch (e) {
			this.#busy = false;
			try {
				line.mode(Digital.InputPullUp);
			}
			catch {
				// Leave the line as it is.
			}
			return void fail(`start signal: ${String(e)}`);
		}

		let waited = 0;
		const poll = () => {
			try {
				this.#collect(frames);
			}
			catch (e) {
				this.#busy = false;
				callback(undefined, `RMT read: ${String(e)}`);
				return;
			}
			waited += POLL_MS;
			if (frames.reduce((n, f) => n + f.durations.length, 0) < REPLY_DURATIONS && waited < TIMEOUT_MS) {
				timers.set(poll, POLL_MS);
				return;
			}
			this.#busy = false;
			callback(join(frames));
		};
		timers.set(poll, POLL_MS);
	}

	/** Moves the frames waiting in the receiver's ring buffer to `frames`. */
	#collect(frames: Frame[]): void {
		const receiver = this.#receiver;
		if (!receiver) return;
		for (let i = 0; i < 16; i++) {
			const { count, phase } = receiver.read(this.#buffer);
			if (!count) return;
			const values = new Uint16Array(this.#buffer, 0, Math.min(count, this.#buffer.byteLength >> 1));
			const durations: number[] = [];
			for (let j = 0; j < values.length && values[j]; j++) durations.push(values[j]); // 0 ends the frame
			if (durations.length) frames.push({ phase: phase ? 1 : 0, durations });
		}
	}
}

/** Busy-waits at least `us` microseconds. */
function hold(us: number): void {
	let spins = 0;
	const start = time.microseconds;
	if (typeof start === "number") {
		while (((time.microseconds as number) - start) >>> 0 < us && ++spins < MAX_SPINS);
		return;
	}
	// Millisecond ticks: one more than needed, as the first tick may come at once.
	const ms = Math.ceil(us / 1000) + 1;
	const t0 = time.ticks;
	while (((time.ticks - t0) >>> 0) < ms && ++spins < MAX_SPINS);
}

/** The frames as one pulse train; a frame that starts at the level the previous one ended on extends it. */
function join(frames: readonly Frame[]): Pulses {
	if (!frames.length) return { phase: 1, durations: [] };
	const durations: number[] = [];
	const level = frames[0].phase;
	for (const frame of frames) {
		const last = durations.length ? (((level + durations.length - 1) & 1) as 0 | 1) : undefined;
		let from = 0;
		if (last === frame.phase) {
			durations[durations.length - 1] += frame.durations[0];
			from = 1;
		}
		for (let i = from; i < frame.durations.length; i++) durations.push(frame.durations[i]);
	}
	return { phase: level, durations };
}

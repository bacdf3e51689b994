/*
 * DHT11 / DHT22 (AM2302) temperature and humidity sensor, in the style of an ECMA-419 sensor class
 * (constructor options, configure, sample, close), with an asynchronous sample() because a read
 * takes a start pulse and a few milliseconds of capture.
 *
 * - The platform sends the start signal and captures the reply (a PulseCapture); dht/decoder turns
 *   it into a reading.
 * - The sensor needs time between reads (DHT22 2 s, DHT11 1 s, counted from the start of the
 *   previous read): an early sample() waits until it is allowed. One read at a time; a sample()
 *   during a read gets that read's result.
 * - A failed read is tried once more. If that fails too the caller gets undefined and the reason,
 *   never a previous reading in its place (like ESPHome: a warning and no value).
 * - sample() never throws; callbacks come later, from a timer or the capture, never from sample().
 */

import type { DhtClock, PulseCapture, Pulses } from "dht/capture";
import { decodeDht, type DecodeErrorCode, type DhtModel } from "dht/decoder";

export type { DhtModel, DecodeErrorCode } from "dht/decoder";

export type DhtErrorCode = DecodeErrorCode | "capture";

export interface DhtReading {
	thermometer: { temperature: number };
	hygrometer: { humidity: number };
}

export interface DhtError {
	error: DhtErrorCode;
	detail: string;
	/** Reads tried, the retry included. */
	attempts: number;
}

export type DhtStatus = { ok: true; attempts: number } | ({ ok: false } & DhtError);

export type DhtCallback = (reading: DhtReading | undefined, status: DhtStatus) => void;

export interface DhtOptions {
	sensor: { capture: PulseCapture };
	/** Default "dht22". */
	model?: DhtModel;
	clock: DhtClock;
	/** A sample failed after its retry. */
	onError?: (error: DhtError) => void;
}

export interface DhtConfiguration {
	model?: DhtModel;
}

/** Host start pulse in µs: DHT22 needs at least 1 ms, DHT11 at least 18 ms. */
const START_LOW_US: Readonly<Record<DhtModel, number>> = Object.freeze({ dht22: 1100, dht11: 20000 });
/** Least time between the starts of two reads, in ms. */
const MIN_INTERVAL_MS: Readonly<Record<DhtModel, number>> = Object.freeze({ dht22: 2000, dht11: 1000 });
/** A capture that has not called back after this long has failed. */
const CAPTURE_TIMEOUT_MS = 500;
const ATTEMPTS = 2;

function checkModel(model: unknown): DhtModel {
	if (model !== "dht11" && model !== "dht22") throw new RangeError(`dht: unknown model ${String(model)}`);
	return model;
}

function tenths(value: number): number {
	const v = Math.round(value * 10) / 10;
	return v === 0 ? 0 : v;
}

export class DHT {
	readonly #capture: PulseCapture;
	readonly #clock: DhtClock;
	readonly #onError: ((error: DhtError) => void) | undefined;
	#model: DhtModel;
	#closed = false;
	/** clock.now() when the last capture started. */
	#lastStart: number | undefined;
	/** Callbacks waiting for the read in progress; empty when idle. */
	#waiters: DhtCallback[] = [];
	#attempts = 0;
	/** Model of the read in progress (configure() applies to the next one). */
	#readModel: DhtModel = "dht22";
	/** Timer before the next capture, or the capture watchdog. */
	#timer: unknown;
	/** Identifies the capture in flight; 0 when none. */
	#inflight = 0;
	#serial = 0;

	constructor(options: DhtOptions) {
		const capture = options?.sensor?.capture;
		if (!capture || typeof capture.capture !== "function") throw new TypeError("dht: options.sensor.capture required");
		if (!options.clock) throw new TypeError("dht: options.clock required");
		this.#capture = capture;
		this.#clock = options.clock;
		this.#onError = options.onError;
		this.#model = checkModel(options.model ?? "dht22");
	}

	get model(): DhtModel {
		return this.#model;
	}

	/** Changes the model; a read in progress finishes with the previous one. */
	configure(options: DhtConfiguration): void {
		if (options?.model !== undefined) this.#model = checkModel(options.model);
	}

	/**
	 * Reads the sensor and calls back once with the reading, or undefined and the reason. Ignored
	 * after close().
	 */
	sample(callback: DhtCallback): void {
		if (this.#closed || typeof callback !== "function") return;
		this.#waiters.push(callback);
		if (this.#waiters.length > 1) return; // joins the read in progress
		this.#attempts = 0;
		this.#readModel = this.#model;
		this.#schedule();
	}

	/** Cancels any read in progress; no callback fires afterwards. */
	close(): void {
		if (this.#closed) return;
		this.#closed = true;
		this.#cancelTimer();
		this.#inflight = 0;
		this.#waiters = [];
	}

	/** Starts the next capture as soon as the minimum interval allows (always from a timer). */
	#schedule(): void {
		const now = this.#clock.now();
		const allowed = this.#lastStart === undefined ? now : this.#lastStart + MIN_INTERVAL_MS[this.#readModel];
		this.#timer = this.#clock.set(() => {
			this.#timer = undefined;
			this.#start();
		}, Math.max(0, allowed - now));
	}

	#start(): void {
		if (this.#closed) return;
		const id = (this.#inflight = ++this.#serial);
		this.#attempts++;
		this.#lastStart = this.#clock.now();
		this.#timer = this.#clock.set(() => {
			this.#timer = undefined;
			this.#captured(id, undefined, `no capture after ${CAPTURE_TIMEOUT_MS} ms`);
		}, CAPTURE_TIMEOUT_MS);
		try {
			this.#capture.capture(START_LOW_US[this.#readModel], (pulses, error) => this.#captured(id, pulses, error));
		}
		catch (e) {
			this.#captured(id, undefined, `capture threw: ${String(e)}`);
		}
	}

	#captured(id: number, pulses: Pulses | undefined, error: string | undefined): void {
		if (this.#closed || id !== this.#inflight) return; // late, duplicate or cancelled
		this.#inflight = 0;
		this.#cancelTimer();
		let failure: { error: DhtErrorCode; detail: string };
		if (error !== undefined || !pulses) failure = { error: "capture", detail: error || "capture returned nothing" };
		else {
			const result = decodeDht(this.#readModel, pulses);
			if (result.ok) {
				const reading: DhtReading = {
					thermometer: { temperature: tenths(result.temperature) },
					hygrometer: { humidity: tenths(result.humidity) },
				};
				this.#finish(reading, { ok: true, attempts: this.#attempts });
				return;
			}
			failure = { error: result.error, detail: result.detail };
		}
		if (this.#attempts < ATTEMPTS) {
			this.#schedule();
			return;
		}
		const report: DhtError = { ...failure, attempts: this.#attempts };
		this.#finish(undefined, { ok: false, ...report }, report);
	}

	#finish(reading: DhtReading | undefined, status: DhtStatus, report?: DhtError): void {
		const waiters = this.#waiters;
		this.#waiters = [];
		let thrown: { error: unknown } | undefined;
		if (report && this.#onError && !this.#closed) {
			try {
				this.#onError(report);
			}
			catch (error) {
				thrown = { error };
			}
		}
		// Every waiter is called even if one throws; the first exception is passed on afterwards.
		for (const callback of waiters) {
			if (this.#closed) break; // an earlier callback closed the sensor
			try {
				callback(reading, status);
			}
			catch (error) {
				thrown ??= { error };
			}
		}
		if (thrown) throw thrown.error;
	}

	#cancelTimer(): void {
		if (this.#timer !== undefined) this.#clock.clear(this.#timer);
		this.#timer = undefined;
	}
}

export default DHT;

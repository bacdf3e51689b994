/*
 * Fake ports for the XS scenario, in plain ECMAScript on the virtual clock: WiFi, SNTP, a DHT22
 * pulse capture, recording outputs, a memory store, fixed randomness and a system port.
 * Nothing here touches a platform API, so the same code runs on Node and inside XS.
 */

import type { Pulses } from "dht/capture";
import { encodeDhtBytes } from "dht/decoder";
import type { PulseCapture, Random, SNTP, SntpResult, StoredValue, System, WiFi, WiFiEvents } from "../../src/ports";
import type { FakeNetwork } from "./broker";
import type { VirtualClock } from "./virtual-clock";
import { MemoryStore as BaseMemoryStore } from "../adapters/memory-store";

/* WiFi ------------------------------------------------------------------------------------ */

export interface FakeWiFiOptions {
	clock: VirtualClock;
	network: FakeNetwork;
	mac: string;
	/** The driver is up at boot (the `ssid=` build); otherwise it has no MAC until the first connect(). */
	macAtBoot: boolean;
	joinMs: number;
	ip: string;
	rssi: number;
}

/**
 * Joins `joinMs` after connect() while the access point is up; the script drops and restores the AP.
 * Gives its MAC once the driver is up: at boot, or from the first connect().
 */
export class FakeWiFi implements WiFi {
	readonly #o: FakeWiFiOptions;
	#events: WiFiEvents | undefined;
	#join: unknown;
	#connected = false;
	#apUp = true;
	#initialised: boolean;
	joins = 0;

	constructor(options: FakeWiFiOptions) {
		this.#o = options;
		this.#initialised = options.macAtBoot;
	}

	get connected(): boolean {
		return this.#connected;
	}

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#initialised = true;
		this.#events = events;
		this.#cancelJoin();
		this.joins++;
		this.#join = this.#o.clock.set(() => {
			this.#join = undefined;
			if (!this.#apUp) {
				events.onDisconnected(`no access point "${options.ssid}" found`);
				return;
			}
			this.#connected = true;
			this.#o.network.setUp(true);
			events.onConnected(this.#o.ip);
		}, this.#o.joinMs);
	}

	disconnect(): void {
		this.#cancelJoin();
		this.#connected = false;
		this.#o.network.setUp(false);
	}

	rssi(): number | undefined {
		return this.#connected ? this.#o.rssi : undefined;
	}

	mac(): string | undefined {
		return this.#initialised ? this.#o.mac : undefined;
	}

	/** The access point goes away: a connected station loses the link at once. */
	dropAccessPoint(reason: string): void {
		this.#apUp = false;
		if (!this.#connected) return;
		this.#connected = false;
		this.#o.network.setUp(false);
		this.#events?.onDisconnected(reason);
	}

	restoreAccessPoint(): void {
		this.#apUp = true;
	}

	#cancelJoin(): void {
		if (this.#join !== undefined) this.#o.clock.clear(this.#join);
		this.#join = undefined;
	}
}

/* SNTP ------------------------------------------------------------------------------------ */

/** Answers `delayMs` later with the world's true time, while the station is online. */
export class FakeSntp implements SNTP {
	readonly #clock: VirtualClock;
	readonly #online: () => boolean;
	readonly #delayMs: number;
	requests = 0;

	constructor(clock: VirtualClock, online: () => boolean, delayMs: number) {
		this.#clock = clock;
		this.#online = online;
		this.#delayMs = delayMs;
	}

	sync(servers: readonly string[], callback: (result: SntpResult) => void): void {
		this.requests++;
		this.#clock.set(() => {
			if (!this.#online() || !servers.length) callback({ ok: false, error: `no response from ${servers.join(", ") || "any server"}` });
			else callback({ ok: true, epochMs: this.#clock.worldTime(), server: servers[0] });
		}, this.#delayMs);
	}
}

/* DHT22 ----------------------------------------------------------------------------------- */

/** Nominal DHT timings in µs: preamble 80/80, bit low 50, high 26 (0) or 70 (1), final low 50. */
const DHT_US = { preambleLow: 80, preambleHigh: 80, bitLow: 50, zeroHigh: 26, oneHigh: 70, endLow: 50 } as const;
/** Least start pulse a DHT22 answers, µs. */
const DHT22_MIN_START_US = 1000;

/** The capture of a sensor sending these 5 bytes: preamble, 40 bits, final low; no jitter. */
export function dhtPulses(bytes: ArrayLike<number>): Pulses {
	const durations: number[] = [DHT_US.preambleLow, DHT_US.preambleHigh];
	for (let bit = 0; bit < 40; bit++) {
		durations.push(DHT_US.bitLow);
		durations.push((bytes[bit >> 3] >> (7 - (bit & 7))) & 1 ? DHT_US.oneHigh : DHT_US.zeroHigh);
	}
	durations.push(DHT_US.endLow);
	return { phase: 0, durations };
}

export interface DhtValues {
	temperature: number;
	humidity: number;
}

/** A DHT22 answering each capture with the next of `readings` (cycling), `latencyMs` later. */
export class FakeDhtCapture implements PulseCapture {
	readonly #clock: VirtualClock;
	readonly #readings: readonly DhtValues[];
	readonly #latencyMs: number;
	captures = 0;

	constructor(clock: VirtualClock, readings: readonly DhtValues[], latencyMs: number) {
		if (!readings.length) throw new RangeError("FakeDhtCapture needs at least one reading");
		this.#clock = clock;
		this.#readings = readings;
		this.#latencyMs = latencyMs;
	}

	capture(startLowUs: number, callback: (pulses: Pulses | undefined, error?: string) => void): void {
		const values = this.#readings[this.captures % this.#readings.length];
		this.captures++;
		// A start pulse too short gets no answer: the capture holds only the host's own pulse.
		const pulses: Pulses = startLowUs >= DHT22_MIN_START_US
			? dhtPulses(encodeDhtBytes("dht22", values.temperature, values.humidity))
			: { phase: 0, durations: [startLowUs] };
		this.#clock.set(() => callback(pulses), this.#latencyMs);
	}
}

/* Outputs, store, randomness, system ------------------------------------------------------- */

/** Keeps every write with its virtual time (the host's LED recorder, platform-free). */
export { RecordingLed as RecordingOutput, type LedWrite as OutputWrite } from "../adapters/led";

/** The host's NVS-like store, with a sorted snapshot for the summary. */
export class MemoryStore extends BaseMemoryStore {
	/** The contents, keys sorted (so the order does not depend on insertion). */
	snapshot(): Record<string, StoredValue> {
		const out: Record<string, StoredValue> = {};
		for (const key of [...this.values.keys()].sort()) out[key] = this.values.get(key)!;
		return out;
	}
}

/** Always the same number, and bytes 0, 1, 2...: every backoff jitter is the same. */
export function fixedRandom(value: number): Random {
	return {
		float: () => value,
		bytes: (length) => {
			const out = new Uint8Array(length);
			for (let i = 0; i < length; i++) out[i] = i & 0xff;
			return out;
		},
	};
}

export class FakeSystem implements System {
	readonly restarts: string[] = [];
	readonly #free: number;

	constructor(freeBytes: number) {
		this.#free = freeBytes;
	}

	restart(reason: string): void {
		this.restarts.push(reason);
	}

	freeMemory(): number | undefined {
		return this.#free;
	}
}

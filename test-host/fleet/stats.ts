/*
 * Figures for a fleet: samples kept for percentiles (bounded), and the fleet-wide counters the
 * status line and the summary read. One instance per fleet; devices only increment.
 */

/** Millisecond samples in a growable Float64Array, at most `limit` (later ones are counted, not kept). */
export class Samples {
	#values = new Float64Array(1024);
	#size = 0;
	count = 0;
	max = 0;
	readonly #limit: number;

	constructor(limit = 4_000_000) {
		this.#limit = limit;
	}

	add(ms: number): void {
		this.count++;
		if (ms > this.max) this.max = ms;
		if (this.#size === this.#limit) return;
		if (this.#size === this.#values.length) {
			const bigger = new Float64Array(Math.min(this.#limit, this.#values.length * 2));
			bigger.set(this.#values);
			this.#values = bigger;
		}
		this.#values[this.#size++] = ms;
	}

	clear(): void {
		this.#size = 0;
		this.count = 0;
		this.max = 0;
	}

	/** Percentiles (0..100) of what was kept, rounded to 0.01 ms; undefined when empty. */
	percentiles(...ps: number[]): (number | undefined)[] {
		if (this.#size === 0) return ps.map(() => undefined);
		const sorted = this.#values.slice(0, this.#size).sort();
		return ps.map((p) => round2(sorted[Math.min(this.#size - 1, Math.max(0, Math.ceil((p / 100) * this.#size) - 1))]));
	}

	/** count, min, p50, p90, p99, max (ms). */
	summary(): Distribution {
		const [min, p50, p90, p99] = this.percentiles(0, 50, 90, 99);
		return { count: this.count, min, p50, p90, p99, max: this.count ? round2(this.max) : undefined };
	}
}

export interface Distribution {
	count: number;
	min?: number;
	p50?: number;
	p90?: number;
	p99?: number;
	max?: number;
}

export function round2(x: number): number {
	return Math.round(x * 100) / 100;
}

/** Where a device is. "pending": not booted yet (the ramp has not reached it). */
export type DeviceState = "pending" | "connecting" | "connected" | "reconnecting";

export class FleetStats {
	readonly states: Record<DeviceState, number> = { pending: 0, connecting: 0, connected: 0, reconnecting: 0 };
	/** Devices that connected at least once. */
	everConnected = 0;
	/** PUBLISH packets the devices wrote, and those the broker acknowledged (PUBACK). */
	published = 0;
	acked = 0;
	/** PUBLISH packets the devices received (commands, configuration). */
	received = 0;
	telemetry = 0;
	/** Messages a device dropped (its outbox full, offline at QoS 0, refused). */
	dropped = 0;
	/** Connections lost that the device did not plan (after it had connected). */
	unplannedDisconnects = 0;
	plannedReconnects = 0;
	/** Diagnostic codes of failed attempts and lost connections, with how often each occurred. */
	readonly failures: Record<string, number> = {};
	/** Error-level device events by name (mqtt.connect_failed, watchdog.restart, ...). */
	readonly errors: Record<string, number> = {};
	/** Unplanned loss to CONNACK again (ms): how long devices were offline, faults or not. */
	readonly outage = new Samples();
	/** Boot to first CONNACK, per device (ms). */
	readonly connectTime = new Samples();
	/** PUBLISH to PUBACK (ms), for the whole run. */
	readonly pubackLatency = new Samples();
	/** The same, for the current status interval only. */
	readonly pubackWindow = new Samples(100_000);
	/** Time of the last first connection (ms since the fleet started). */
	lastFirstConnectAt = 0;

	move(from: DeviceState, to: DeviceState): void {
		this.states[from]--;
		this.states[to]++;
	}

	failure(code: string): void {
		this.failures[code] = (this.failures[code] ?? 0) + 1;
	}

	error(event: string): void {
		this.errors[event] = (this.errors[event] ?? 0) + 1;
	}
}

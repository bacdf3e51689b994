/*
 * The connection watchdog: no MQTT connection for `mqtt.watchdog` minutes restarts the device, as
 * a last resort against a stuck driver or stack, but never as a restart that cannot help.
 *
 * The reconnect backoff grows to 5 minutes (with jitter, up to 6¼), so when the watchdog's time
 * comes the next attempt may still be minutes away although the broker is back. The watchdog
 * therefore first asks for one attempt at once (never closer than the backoff floor to the
 * previous one) and restarts only when that attempt fails, or when no attempt could be made
 * within a grace period (WiFi down, no valid time, no client id). The restart goes through the
 * planned-restart path, which keeps what is queued (src/restart.ts).
 */

import type { Logger } from "./events";
import type { Persisted } from "./persistence";
import type { Clock, TimerHandle } from "./ports";

export interface WatchdogOptions {
	clock: Clock;
	log: Logger;
	persisted: Persisted;
	/** mqtt.watchdog: minutes without a connection; 0 disables. */
	minutes(): number;
	/** How long the last attempt may take before the restart (floor + socket timeout + margin). */
	graceMs(): number;
	/** Make one connection attempt as soon as the backoff floor allows. */
	attemptNow(): void;
	/** The planned restart. */
	restart(reason: string): void;
}

export class Watchdog {
	readonly #o: WatchdogOptions;
	#timer: TimerHandle | undefined;
	#reason: string | undefined;

	constructor(options: WatchdogOptions) {
		this.#o = options;
	}

	/** True once the time is up and the last attempt is under way. */
	get due(): boolean {
		return this.#reason !== undefined;
	}

	/** Starts counting (at boot and whenever a connection ends), unless it already counts. */
	arm(): void {
		const minutes = this.#o.minutes();
		if (!minutes || this.#timer !== undefined) return;
		this.#timer = this.#o.clock.set(() => this.#elapsed(minutes), minutes * 60_000);
	}

	/** A connection is up. */
	disarm(): void {
		this.stop();
	}

	/** A connection attempt failed: when the time is up, that was the last one. */
	failed(): void {
		if (this.#reason !== undefined) this.#restart(this.#reason);
	}

	stop(): void {
		if (this.#timer !== undefined) this.#o.clock.clear(this.#timer);
		this.#timer = undefined;
		this.#reason = undefined;
	}

	#elapsed(minutes: number): void {
		const reason = `watchdog: no MQTT connection for ${minutes} min`;
		this.#reason = reason;
		const graceMs = this.#o.graceMs();
		this.#o.log.warn("watchdog.due", { reason, graceMs, next: "one more connection attempt now; a restart (keeping what is queued) if it fails" });
		this.#timer = this.#o.clock.set(() => this.#restart(reason), graceMs);
		this.#o.attemptNow();
	}

	#restart(reason: string): void {
		this.stop();
		const counters = this.#o.persisted.counters();
		this.#o.persisted.saveCounters({ ...counters, watchdogRestarts: counters.watchdogRestarts + 1 });
		this.#o.log.error("watchdog.restart", { reason });
		this.#o.restart(reason);
	}
}

/*
 * Watches the station for the fallback to setup mode: when it has not been joined for `afterMs`
 * (from the first join attempt, or from the last drop), `onStranded` is called once. A WiFi port
 * in front of the board's: the supervisor joins through it as before.
 */

import type { Clock, TimerHandle, WiFi, WiFiEvents } from "../ports";

export interface WifiWatchOptions {
	wifi: WiFi;
	clock: Pick<Clock, "set" | "clear">;
	afterMs: number;
	onStranded(): void;
}

export class WifiWatch implements WiFi {
	readonly #o: WifiWatchOptions;
	#timer: TimerHandle | undefined;
	#fired = false;

	constructor(options: WifiWatchOptions) {
		this.#o = options;
	}

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#arm();
		this.#o.wifi.connect(options, {
			onConnected: (ip) => {
				this.#disarm();
				events.onConnected(ip);
			},
			onDisconnected: (reason) => {
				this.#arm();
				events.onDisconnected(reason);
			},
		});
	}

	disconnect(): void {
		this.#disarm();
		this.#o.wifi.disconnect();
	}

	rssi(): number | undefined {
		return this.#o.wifi.rssi();
	}

	mac(): string | undefined {
		return this.#o.wifi.mac();
	}

	#arm(): void {
		if (this.#timer !== undefined || this.#fired) return;
		this.#timer = this.#o.clock.set(() => {
			this.#timer = undefined;
			this.#fired = true;
			this.#o.onStranded();
		}, this.#o.afterMs);
	}

	#disarm(): void {
		if (this.#timer !== undefined) this.#o.clock.clear(this.#timer);
		this.#timer = undefined;
	}
}

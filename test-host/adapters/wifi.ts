/*
 * A simulated WiFi station: joins after a delay when the access point is up and the password is
 * right, drops and recovers on demand, reports RSSI and the MAC.
 */

import type { WiFi, WiFiEvents } from "../../src/ports";

export interface SimulatedWiFiOptions {
	clock: { set(callback: () => void, ms: number): unknown; clear(handle: unknown): void };
	mac: string;
	/** Default 1500 ms. */
	joinDelayMs?: number;
	ip?: string;
	rssi?: number;
	/** When set, a join with another password fails. */
	password?: string;
}

export class SimulatedWiFi implements WiFi {
	readonly #o: SimulatedWiFiOptions;
	#events: WiFiEvents | undefined;
	#joinTimer: unknown;
	#connected = false;
	#apUp = true;
	joins = 0;
	rssiValue: number;

	constructor(options: SimulatedWiFiOptions) {
		this.#o = options;
		this.rssiValue = options.rssi ?? -58;
	}

	get connected(): boolean {
		return this.#connected;
	}

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#events = events;
		if (this.#joinTimer !== undefined) this.#o.clock.clear(this.#joinTimer);
		this.joins++;
		this.#joinTimer = this.#o.clock.set(() => {
			this.#joinTimer = undefined;
			if (!this.#apUp) return events.onDisconnected("no access point found");
			if (this.#o.password !== undefined && options.password !== this.#o.password) return events.onDisconnected("authentication failed (wrong password)");
			this.#connected = true;
			events.onConnected(this.#o.ip ?? "192.168.4.23");
		}, this.#o.joinDelayMs ?? 1500);
	}

	disconnect(): void {
		if (this.#joinTimer !== undefined) this.#o.clock.clear(this.#joinTimer);
		this.#joinTimer = undefined;
		this.#connected = false;
	}

	rssi(): number | undefined {
		return this.#connected ? this.rssiValue : undefined;
	}

	mac(): string {
		return this.#o.mac;
	}

	/** The access point goes away (or comes back); a connected station loses the link. */
	setAccessPoint(up: boolean, reason = "beacon timeout"): void {
		this.#apUp = up;
		if (!up && this.#connected) {
			this.#connected = false;
			this.#events?.onDisconnected(reason);
		}
	}
}

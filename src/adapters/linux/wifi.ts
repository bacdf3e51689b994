/*
 * WiFi port on the Linux target: the machine's own network stands in for the access point.
 *
 * A join takes `joinMs` and succeeds when the firmware asks for the simulated network (`ssid`,
 * and `password` when one is set), like the host simulator's station. The MAC is the one the
 * runner gives (one per simulated board); as on an ESP32 joined by the firmware itself
 * (`wifi_ssid=`), there is none until the driver has been started by the first connect().
 */

import type { Clock, TimerHandle, WiFi, WiFiEvents } from "../../ports";

export interface LinuxWiFiOptions {
	clock: Clock;
	mac: string;
	ip: string;
	/** The network that "exists"; empty: whatever the firmware asks for. */
	ssid: string;
	/** When set, a join with another password fails. */
	password: string;
	joinMs: number;
	rssi: number;
}

export class LinuxWiFi implements WiFi {
	readonly #o: LinuxWiFiOptions;
	#started = false;
	#connected = false;
	#timer: TimerHandle | undefined;

	constructor(options: LinuxWiFiOptions) {
		this.#o = options;
	}

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#cancel();
		this.#started = true;
		this.#connected = false;
		this.#timer = this.#o.clock.set(() => {
			this.#timer = undefined;
			if (!options.ssid) return events.onDisconnected("no WiFi network configured: build with wifi_ssid=<name> wifi_password=<password>");
			if (this.#o.ssid && options.ssid !== this.#o.ssid) return events.onDisconnected(`could not join (network "${options.ssid}" not found)`);
			if (this.#o.password && options.password !== this.#o.password) return events.onDisconnected("password rejected");
			this.#connected = true;
			events.onConnected(this.#o.ip);
		}, this.#o.joinMs);
	}

	disconnect(): void {
		this.#cancel();
		this.#connected = false;
	}

	rssi(): number | undefined {
		return this.#connected ? this.#o.rssi : undefined;
	}

	mac(): string | undefined {
		return this.#started ? this.#o.mac : undefined;
	}

	#cancel(): void {
		if (this.#timer !== undefined) this.#o.clock.clear(this.#timer);
		this.#timer = undefined;
	}
}

/*
 * A simulated WiFi station: joins after a delay when the access point is up and the password is
 * right, drops and recovers on demand, reports RSSI and the MAC.
 *
 * Like the ESP32's driver it has no MAC until it is initialised: by default the first connect()
 * starts it (the `wifi_ssid=` build, where the firmware joins by itself); `macFrom: "boot"` models
 * the `ssid=` build (the SDK joined before main ran) and "never" a driver that gives none.
 */

import type { WiFi, WiFiEvents } from "../../src/ports";

/** When the driver gives the MAC: at boot, from the first connect(), or never. */
export type MacFrom = "boot" | "connect" | "never";

export interface SimulatedWiFiOptions {
	clock: { set(callback: () => void, ms: number): unknown; clear(handle: unknown): void };
	mac: string;
	/** Default "connect". */
	macFrom?: MacFrom;
	/** Default 1500 ms. */
	joinDelayMs?: number;
	ip?: string;
	rssi?: number;
	/** When set, a join with another password fails. */
	password?: string;
	/**
	 * The networks in range (scan results). When given, a join to a name not in it fails with
	 * "no access point found (network not found)", and one with another password with
	 * "authentication failed (wrong password)"; without it, any name joins.
	 */
	networks?: SimulatedNetwork[];
}

export interface SimulatedNetwork {
	ssid: string;
	/** "" for an open network. */
	password: string;
	rssi: number;
}

export class SimulatedWiFi implements WiFi {
	readonly #o: SimulatedWiFiOptions;
	#events: WiFiEvents | undefined;
	#joinTimer: unknown;
	#connected = false;
	#apUp = true;
	#initialised: boolean;
	joins = 0;
	rssiValue: number;
	/** The networks in range (tests may change them); undefined: any name joins. */
	networks: SimulatedNetwork[] | undefined;
	/** The network joined last. */
	ssid: string | undefined;
	/** Tests may change it, e.g. from "never" to "connect" (a driver that starts late). */
	macFrom: MacFrom;

	constructor(options: SimulatedWiFiOptions) {
		this.#o = options;
		this.rssiValue = options.rssi ?? -58;
		this.macFrom = options.macFrom ?? "connect";
		this.#initialised = this.macFrom === "boot";
		this.networks = options.networks?.map((n) => ({ ...n }));
	}

	get connected(): boolean {
		return this.#connected;
	}

	/** Whether the driver has started (and so has a MAC, unless it is broken). */
	get initialised(): boolean {
		return this.#initialised;
	}

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#initialised = true;
		this.#events = events;
		if (this.#joinTimer !== undefined) this.#o.clock.clear(this.#joinTimer);
		this.joins++;
		this.#joinTimer = this.#o.clock.set(() => {
			this.#joinTimer = undefined;
			if (!this.#apUp) return events.onDisconnected("no access point found");
			const network = this.networks?.find((n) => n.ssid === options.ssid);
			if (this.networks && !network) return events.onDisconnected("no access point found (network not found)");
			const password = network ? network.password : this.#o.password;
			if (password !== undefined && options.password !== password) return events.onDisconnected("authentication failed (wrong password)");
			this.#connected = true;
			this.ssid = options.ssid;
			if (network) this.rssiValue = network.rssi;
			events.onConnected(this.#o.ip ?? "192.168.4.23");
		}, this.#o.joinDelayMs ?? 1500);
	}

	/** The driver starts (setup mode's access point does that before the station joins anything). */
	startDriver(): void {
		this.#initialised = true;
	}

	/** The networks in range, as a scan reports them (without passwords). */
	scan(): { ssid: string; rssi: number; secure: boolean }[] {
		if (!this.#apUp) return [];
		return (this.networks ?? [{ ssid: "test-ap", password: this.#o.password ?? "", rssi: this.rssiValue }]).map((n) => ({ ssid: n.ssid, rssi: n.rssi, secure: n.password !== "" }));
	}

	disconnect(): void {
		if (this.#joinTimer !== undefined) this.#o.clock.clear(this.#joinTimer);
		this.#joinTimer = undefined;
		this.#connected = false;
	}

	rssi(): number | undefined {
		return this.#connected ? this.rssiValue : undefined;
	}

	mac(): string | undefined {
		return this.#initialised && this.macFrom !== "never" ? this.#o.mac : undefined;
	}

	/** The board boots (again): the driver starts down (up on the ssid= build); the access point is left as it is. */
	reset(): void {
		this.disconnect();
		this.#events = undefined;
		this.#initialised = this.macFrom === "boot";
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

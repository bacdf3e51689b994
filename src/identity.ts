/*
 * Who the device is: a client id that is stable per device, derived from its MAC address
 * (`sensor_` + the last three bytes in upper-case hex, e.g. sensor_8EA40C), and optionally a
 * per-boot variant (<id>_<millis>) for brokers where two connections would share an id.
 *
 * The MAC comes from the WiFi driver, which has none until it is initialised: at boot on
 * Moddable's `ssid=` build (the SDK joins before main runs), only after the firmware's first
 * WiFi connect on the `wifi_ssid=` build. `Identity` reads it once it is there and never makes one
 * up: until then there is no client id, and nothing may connect (every board would otherwise be
 * the same `sensor_000000`, and each connection would take over the previous one's).
 */

import { deepFreeze } from "frozen";
import type { Logger } from "./events";

const MAC = /^([0-9A-Fa-f]{2})([:-]?)([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$/;
/** What a driver without an interface may report: not a device's address. */
const PLACEHOLDER_MAC = "00:00:00:00:00:00";

/** Normalises "aa-bb-cc-dd-ee-ff" or "aabbccddeeff" to "AA:BB:CC:DD:EE:FF"; undefined if not a MAC. */
export function normalizeMac(mac: string): string | undefined {
	const m = MAC.exec(mac.trim());
	if (!m) return undefined;
	return [m[1], m[3], m[4], m[5], m[6], m[7]].join(":").toUpperCase();
}

/** The stable client id: prefix + last three MAC bytes in upper-case hex. */
export function clientIdFromMac(mac: string, prefix = "sensor_"): string {
	const normal = normalizeMac(mac);
	if (!normal) throw new RangeError(`not a MAC address: ${mac}`);
	return prefix + normal.split(":").slice(3).join("");
}

/** The id used in CONNECT: the stable id, or with the per-boot suffix. */
export function connectionClientId(stableId: string, suffix: "none" | "boot", bootMillis: number): string {
	return suffix === "boot" ? `${stableId}_${Math.floor(bootMillis)}` : stableId;
}

/** The device's identity, once the WiFi driver has given its MAC. */
export interface DeviceIdentity {
	/** "AA:BB:CC:DD:EE:FF". */
	readonly mac: string;
	/** The stable client id, e.g. sensor_8EA40C. */
	readonly clientId: string;
}

export interface IdentityOptions {
	/** The WiFi port: `mac()` is undefined until the driver is initialised. */
	wifi: { mac(): string | undefined };
	/** mqtt.clientIdPrefix. */
	prefix: string;
	log: Logger;
	/** Called once, when the identity becomes known. */
	onReady?(identity: DeviceIdentity): void;
}

const UNAVAILABLE = deepFreeze({
	reason: "the WiFi driver has given no MAC address",
	fix: "the device retries and never connects under a made-up id; if this persists, the WiFi driver has not started: check the WiFi settings (wifi_ssid= or ssid=) and the radio",
});

/**
 * Resolves the identity once from the WiFi port: at once when the MAC is already there, otherwise
 * on the first resolve() after the driver gives one. Reports `identity.ready` (after start(), so
 * that device.boot comes first), or `identity.unavailable` when a connection needs it in vain.
 */
export class Identity {
	readonly #o: IdentityOptions;
	#identity: DeviceIdentity | undefined;
	#started = false;
	#announced = false;

	/** Reads the MAC at once: on the ssid= build the identity (and onReady) comes now. */
	constructor(options: IdentityOptions) {
		this.#o = options;
		this.resolve();
	}

	/** The identity, or undefined while the MAC is not known. */
	get current(): DeviceIdentity | undefined {
		return this.#identity;
	}

	/** The stable client id; throws while it is not known (ask `current` first). */
	get clientId(): string {
		if (!this.#identity) throw new Error(`no client id yet: ${UNAVAILABLE.reason}`);
		return this.#identity.clientId;
	}

	/** Reports the identity from now on: identity.ready at once if it is already known. */
	start(): void {
		this.#started = true;
		this.#announce();
	}

	/** Reads the MAC while the identity is unknown; returns the identity once it is known. */
	resolve(): DeviceIdentity | undefined {
		if (this.#identity) return this.#identity;
		const raw = this.#o.wifi.mac();
		const mac = typeof raw === "string" ? normalizeMac(raw) : undefined;
		if (!mac || mac === PLACEHOLDER_MAC) return undefined;
		const identity = (this.#identity = { mac, clientId: clientIdFromMac(mac, this.#o.prefix) });
		this.#o.onReady?.(identity);
		this.#announce();
		return identity;
	}

	/** resolve(), for a connection about to start: without a MAC, reports identity.unavailable (error). */
	require(): DeviceIdentity | undefined {
		const identity = this.resolve();
		if (!identity) this.#o.log.error("identity.unavailable", { ...UNAVAILABLE });
		return identity;
	}

	#announce(): void {
		if (!this.#started || !this.#identity || this.#announced) return;
		this.#announced = true;
		this.#o.log.info("identity.ready", { clientId: this.#identity.clientId, mac: this.#identity.mac });
	}
}

/*
 * One simulated device on the real clock and real TCP, for the tests against Debian's Mosquitto:
 * its configuration, the device itself, and a polling wait with the device's log in its error.
 */

import type { LogRecord } from "../../../src/ports";
import { defaultConfig, validateConfig, type DeviceConfig } from "../../../src/settings";
import { RealClock, realWorldClock } from "../../adapters/clock";
import { MemoryStore } from "../../adapters/store";
import { RecordingSink, seededRandom } from "../../adapters/system";
import { nodeTcp } from "../../adapters/tcp";
import { SimulatedDevice } from "../../sim";

export const CLIENT = "sensor_8EA40C";
export const BASE = `smarthome/home1/${CLIENT}`;

/** The defaults with WiFi and NTP set, and `patch` over them (validated). */
export function config(patch: object): DeviceConfig {
	const base = defaultConfig();
	base.wifi.ssid = "lab";
	base.time.servers = ["ntp.lab"];
	const checked = validateConfig(patch, base);
	if (checked.errors.length) throw new Error(checked.errors.join("; "));
	return checked.value;
}

/** A booted device with MAC 24:6F:28:8E:A4:0C (client id CLIENT). */
export function realDevice(cfg: DeviceConfig, options: { store?: MemoryStore; seed?: number } = {}) {
	const log = new RecordingSink();
	const store = options.store ?? new MemoryStore();
	const sim = new SimulatedDevice({
		config: cfg,
		mac: "24:6F:28:8E:A4:0C",
		clock: () => new RealClock(),
		world: realWorldClock,
		tcp: nodeTcp,
		store,
		log: log.sink,
		random: seededRandom(options.seed ?? 3),
		wifiJoinMs: 50,
	});
	sim.boot();
	return { sim, log, store };
}

/** Polls `done` every 25 ms; after `ms`, fails naming `what` (and the events so far, when given). */
export async function until(done: () => boolean, ms: number, what: string, records?: LogRecord[]): Promise<void> {
	const end = Date.now() + ms;
	while (!done()) {
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}${records ? "\n" + records.map((r) => `${r.event} ${r.code ?? ""} ${r.reason ?? ""}`).join("\n") : ""}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

/*
 * Which firmware runs at boot: setup mode or the sensor (src/device.ts).
 *
 * Setup mode when setup was asked for (factory reset, BOOT button, the stored network failing for
 * provisioning.setupAfter minutes) or when there is no network to join (none stored by setup,
 * none built in). Otherwise the settings setup stored are merged over the build configuration
 * and the Device starts, its WiFi watched by ./wifi-watch.ts for the fallback to setup mode.
 */

import { StatusLed } from "statusled";
import { Device } from "../device";
import { Logger } from "../events";
import { Persisted } from "../persistence";
import type { OtaSetup } from "../ota/updater";
import type { Button, Ports, SetupPorts } from "../ports";
import type { DeviceConfig } from "../settings";
import { applySetupPatch } from "./form";
import { SetupMode } from "./setup-mode";
import { WifiWatch } from "./wifi-watch";

export interface BootOptions {
	ports: Ports;
	/** The build configuration. */
	config: DeviceConfig;
	/** Without them, no setup mode (a board that cannot open an access point). */
	setup?: SetupPorts;
	/** The BOOT button (GPIO 0): a long press asks for setup mode. */
	button?: Button;
	httpPort?: number;
	dnsPort?: number;
	/** Firmware updates (src/ota/), when the board has an update slot and a signing key. */
	ota?: OtaSetup;
}

export type Booted = { mode: "setup"; setup: SetupMode; config: DeviceConfig } | { mode: "normal"; device: Device; config: DeviceConfig };

/** How long the BOOT button must be held to open setup mode. */
export const LONG_PRESS_MS = 5000;

export function decide(config: DeviceConfig, persisted: Persisted): { setup: false } | { setup: true; reason: "forced" | "fallback" | "unconfigured" } {
	const requested = persisted.setupRequested();
	if (requested) return { setup: true, reason: requested };
	if (!config.wifi.ssid) return { setup: true, reason: "unconfigured" };
	return { setup: false };
}

export function boot(options: BootOptions): Booted {
	const { ports } = options;
	const log = new Logger(ports.clock, ports.log);
	const persisted = new Persisted(ports.store, (key, reason) => log.warn("store.warning", { key, reason }));
	const merged = applySetupPatch(options.config, persisted.setupSettings());
	if (merged.errors.length) log.warn("store.warning", { key: "setup", reason: `stored setup settings ignored: ${merged.errors.join("; ")}` });
	const config = merged.config;
	const choice = decide(config, persisted);
	if (choice.setup && options.setup) {
		const led = new StatusLed({ output: ports.led, timers: ports.clock, onChange: (pattern) => log.info("led.pattern", { pattern }) });
		const setup = new SetupMode({ ports, setup: options.setup, config, persisted, log, led, reason: choice.reason, httpPort: options.httpPort, dnsPort: options.dnsPort });
		setup.start();
		options.button?.onLongPress(LONG_PRESS_MS, () => log.info("button.long_press", { action: "already in setup mode" }));
		return { mode: "setup", setup, config };
	}
	if (choice.setup) log.warn("setup.unavailable", { reason: choice.reason, error: "this board has no access point: running with the built-in settings" });
	let device: Device | undefined;
	const toSetup = (reason: "forced" | "fallback", why: string) => {
		persisted.requestSetup(reason);
		log.warn("setup.requested", { reason: why });
		device?.shutdown(() => ports.system.restart(why));
	};
	const watched = options.setup && config.provisioning.setupAfter > 0
		? new WifiWatch({ wifi: ports.wifi, clock: ports.clock, afterMs: config.provisioning.setupAfter * 60_000, onStranded: () => toSetup("fallback", `no WiFi for ${config.provisioning.setupAfter} min: setup mode`) })
		: ports.wifi;
	device = new Device({ config, ota: options.ota, ports: { ...ports, wifi: watched } });
	options.button?.onLongPress(LONG_PRESS_MS, () => toSetup("forced", "BOOT button held: setup mode"));
	device.start();
	return { mode: "normal", device, config };
}

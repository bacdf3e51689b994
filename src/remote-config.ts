/*
 * Remote configuration (the backend's config message, validated by src/inbox.ts): applied at once,
 * persisted only when a value changed (a flash write), restored at boot.
 *
 * wifiConfig: `reconnectInterval` applies at once; a new `ssid` (+ `password`) is tried once at a
 * rejoin forced a moment after the answer (src/provisioning/wifi-trial.ts) with a fallback to the
 * network in use. The new network replaces the old one (in memory and in the stored setup
 * settings) only once the device is online through it: if it joins but never reaches the broker,
 * the watchdog's restart comes back on the old network. The password is never persisted in the
 * remote configuration and never echoed in the status.
 */

import type { Logger } from "./events";
import type { Persisted } from "./persistence";
import type { Clock, WiFi } from "./ports";
import { WifiTrial, type Network } from "./provisioning/wifi-trial";
import { applyRemoteView, remoteView, validateRemoteConfig, type DeviceConfig, type RemoteConfig } from "./settings";

/** How long after the config answer the rejoin through a new network starts. */
const SWITCH_DELAY_MS = 1000;

export interface RemoteConfigurationOptions {
	persisted: Persisted;
	log: Logger;
	wifi: WiFi;
	clock: Pick<Clock, "set">;
	config(): DeviceConfig;
	/** The configuration changed: put `next` in place. */
	replace(next: DeviceConfig): void;
}

/** The build configuration with the remote configuration saved last over it (when still valid). */
export function withStoredRemoteConfig(config: DeviceConfig, persisted: Persisted, log: Logger): DeviceConfig {
	const stored = persisted.remoteConfig();
	if (stored === undefined) return config;
	const check = validateRemoteConfig(stored, remoteView(config));
	if (check.value) return applyRemoteView(config, check.value);
	log.warn("store.warning", { key: "config", reason: `stored remote configuration ignored: ${check.errors.join("; ")}` });
	return config;
}

export class RemoteConfiguration {
	readonly #o: RemoteConfigurationOptions;
	/** The WiFi port the supervisor joins through. */
	readonly wifi: WifiTrial;
	/** A candidate network joined, waiting for the broker to confirm it. */
	#joined: Network | undefined;

	constructor(options: RemoteConfigurationOptions) {
		this.#o = options;
		const log = options.log;
		this.wifi = new WifiTrial({
			wifi: options.wifi,
			log,
			onJoined: (candidate) => {
				this.#joined = candidate;
			},
			onFailed: (candidate, reason, previous) => log.warn("wifi.fallback", { tried: candidate.ssid, reason, using: previous }),
		});
	}

	/** A valid config message: its value and the fields it changed. */
	apply(value: RemoteConfig, changed: string[]): void {
		if (!changed.length) return;
		const before = this.#o.config();
		const next = applyRemoteView(before, value);
		const { ssid, password } = value.wifiConfig;
		const newNetwork = ssid !== before.wifi.ssid || (password !== undefined && password !== before.wifi.password);
		this.#o.persisted.saveRemoteConfig(remoteView(next));
		this.#o.replace(next);
		if (!newNetwork) return;
		this.wifi.propose({ ssid, password: password ?? (ssid === before.wifi.ssid ? before.wifi.password : "") });
		this.#o.clock.set(() => this.wifi.switchNow(), SWITCH_DELAY_MS);
	}

	/** The device is online: a candidate network it joined through becomes the network (stored). */
	online(): void {
		const joined = this.#joined;
		if (!joined) return;
		this.#joined = undefined;
		const next = JSON.parse(JSON.stringify(this.#o.config())) as DeviceConfig;
		next.wifi.ssid = joined.ssid;
		next.wifi.password = joined.password;
		const stored = this.#o.persisted.setupSettings() as Record<string, Record<string, unknown>> | undefined;
		this.#o.persisted.saveSetupSettings({ ...stored, wifi: { ...stored?.wifi, ssid: joined.ssid, password: joined.password } });
		this.#o.replace(next);
		this.#o.log.info("wifi.network", { ssid: joined.ssid, source: "remote wifiConfig" });
	}
}

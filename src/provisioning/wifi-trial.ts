/*
 * A network sent by the backend (remote wifiConfig.ssid, + password) is tried once: a WiFi port in
 * front of the board's through which the supervisor joins as before. On the next join the
 * candidate is tried instead of the configured network; if it cannot be joined (not found, wrong
 * password) the configured network is joined at once, within the same join, so a bad remote
 * setting cannot strand the device. The owner hears of both outcomes.
 */

import type { Logger } from "../events";
import type { WiFi, WiFiEvents } from "../ports";

export interface Network {
	ssid: string;
	password: string;
}

export interface WifiTrialOptions {
	wifi: WiFi;
	log: Logger;
	/** The candidate was joined (the WiFi link is up on it). */
	onJoined(candidate: Network): void;
	/** The candidate could not be joined: the previous network is being joined instead. */
	onFailed(candidate: Network, reason: string, previous: string): void;
}

export class WifiTrial implements WiFi {
	readonly #o: WifiTrialOptions;
	#candidate: Network | undefined;
	#events: WiFiEvents | undefined;

	constructor(options: WifiTrialOptions) {
		this.#o = options;
	}

	/** The network to try at the next join. */
	propose(candidate: Network): void {
		this.#candidate = { ssid: candidate.ssid, password: candidate.password };
	}

	/** Drops the link so the supervisor rejoins now (through the candidate). */
	switchNow(): void {
		const events = this.#events;
		if (!events || !this.#candidate) return;
		this.#o.wifi.disconnect();
		events.onDisconnected(`switching to network "${this.#candidate.ssid}"`);
	}

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#events = events;
		const candidate = this.#candidate;
		this.#candidate = undefined;
		if (!candidate || (candidate.ssid === options.ssid && candidate.password === options.password)) {
			this.#o.wifi.connect(options, events);
			return;
		}
		this.#o.log.info("wifi.trying", { ssid: candidate.ssid, previous: options.ssid });
		let settled = false;
		this.#o.wifi.connect(candidate, {
			onConnected: (ip) => {
				if (!settled) {
					settled = true;
					this.#o.onJoined(candidate);
				}
				events.onConnected(ip);
			},
			onDisconnected: (reason) => {
				if (settled) return events.onDisconnected(reason);
				settled = true;
				this.#o.onFailed(candidate, reason, options.ssid);
				this.#o.wifi.connect(options, events);
			},
		});
	}

	disconnect(): void {
		this.#o.wifi.disconnect();
	}

	rssi(): number | undefined {
		return this.#o.wifi.rssi();
	}

	mac(): string | undefined {
		return this.#o.wifi.mac();
	}
}

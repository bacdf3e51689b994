/*
 * The simulated access point of setup mode: it "opens" (recorded, with its name and password) and
 * scans the simulated WiFi's networks. Its address is 127.0.0.1, where the host's setup page and
 * captive DNS really listen.
 */

import type { AccessPoint, ScannedNetwork, SetupPorts } from "../../src/ports";
import type { SimulatedWiFi } from "../adapters/wifi";
import { nodeDnsServers, nodeHttpClient, nodeHttpServers } from "./servers";

export class SimulatedAccessPoint implements AccessPoint {
	readonly #wifi: SimulatedWiFi;
	/** The access point open now, if any. */
	open: { ssid: string; password: string } | undefined;

	constructor(wifi: SimulatedWiFi) {
		this.#wifi = wifi;
	}

	prepare(): void {
		this.#wifi.startDriver();
	}

	start(options: { ssid: string; password: string }): string {
		this.open = { ...options };
		return "127.0.0.1";
	}

	stop(): void {
		this.open = undefined;
	}

	scan(callback: (networks: ScannedNetwork[]) => void): void {
		const list = this.#wifi.scan();
		setTimeout(() => callback(list), 20);
	}
}

export function hostSetupPorts(wifi: SimulatedWiFi): SetupPorts & { ap: SimulatedAccessPoint } {
	return { ap: new SimulatedAccessPoint(wifi), http: nodeHttpServers, dns: nodeDnsServers, httpClient: nodeHttpClient };
}

/*
 * AccessPoint port over Moddable's `wifi` (setup mode on the ESP32): the station and the access
 * point side by side (WiFi.accessPoint with station: true), so the setup page can try a network
 * while the phone stays connected. prepare() starts the driver in station mode first, so that the
 * station MAC (the client id's source) can be read before the access point is named after it.
 * Scans use WiFi.scan (one at a time; about two seconds).
 */

import Net from "net";
import WiFi from "wifi";
import type { AccessPoint, ScannedNetwork } from "../../ports";

interface WiFiStatics {
	mode: number;
	accessPoint(dictionary: { ssid: string; password: string; station: boolean; channel?: number }): void;
	scan(dictionary: object, callback: (item: { ssid: string; rssi: number; authentication: string } | null) => void): void;
	Mode: { none: number; station: number; accessPoint: number };
}

const wifi = WiFi as unknown as WiFiStatics;
const net = Net as unknown as { get(what: string, nif?: string): unknown };

export class ModdableAccessPoint implements AccessPoint {
	prepare(): void {
		if (wifi.mode <= 0) wifi.mode = wifi.Mode.station;
	}

	start(options: { ssid: string; password: string }): string {
		wifi.accessPoint({ ssid: options.ssid, password: options.password, station: true });
		const ip = net.get("IP", "ap");
		return typeof ip === "string" && ip ? ip : "192.168.4.1";
	}

	stop(): void {
		try {
			wifi.mode = wifi.Mode.station;
		}
		catch {
			// the driver is going down anyway
		}
	}

	scan(callback: (networks: ScannedNetwork[]) => void): void {
		const found: ScannedNetwork[] = [];
		wifi.scan({}, (item) => {
			if (item) found.push({ ssid: String(item.ssid), rssi: Number(item.rssi), secure: item.authentication !== "none" });
			else callback(found);
		});
	}
}

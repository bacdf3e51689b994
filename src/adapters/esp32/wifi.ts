/*
 * WiFi port over Moddable's classic `wifi` and `net` modules (station mode).
 *
 * - connect() starts a join and returns; events always come later, from the WiFi callback or a
 *   zero-delay timer, never from inside connect().
 * - When the link is already up with the same network, connect() reports it at once (on the next
 *   turn). That is the case when the build was given Moddable's `ssid=`: the SDK's setup/network
 *   module joins before main runs.
 * - One report per attempt: after the first "disconnect" the attempt is over (the monitor is
 *   closed), the supervisor decides when to try again. Moddable's ESP32 driver also retries a
 *   failed join a few times on its own; a join it completes in the meantime is picked up by the
 *   supervisor's next connect() through the "already up" path.
 * - What Moddable's ESP32 driver sends: "connect", "gotIP" and "disconnect" (also "start" and the
 *   access-point messages, which a station ignores); never "lostIP", a lost link is a "disconnect".
 *   The disconnect value is -1 once the password has been rejected during the current join (4-way
 *   handshake or MIC failure) and 0 otherwise: the only reason it can tell.
 * - mac() is undefined until the WiFi driver is initialised: Net.get("MAC") has no interface to
 *   ask before. The SDK's setup/network initialises it on the `ssid=` build; on `wifi_ssid=` the
 *   first connect() does (new WiFi with a network starts the driver).
 */

import Net from "net";
import Timer from "timer";
import WiFi from "wifi";
import type { WiFi as WiFiPort, WiFiEvents } from "../../ports";

type Message = "connect" | "gotIP" | "disconnect" | string;

/** What this adapter relies on (the published typings omit the callback's second argument). */
interface Monitor {
	close(): void;
}
interface WiFiClass {
	new (dictionary: { ssid: string; password?: string } | undefined, callback: (message: Message, value?: number) => void): Monitor;
	disconnect?(): void;
}

const WiFiStation = WiFi as unknown as WiFiClass;
const timers = Timer as unknown as { set(callback: () => void, interval: number): unknown };
const net = Net as unknown as { get(what: string): unknown };

function text(value: unknown): string | undefined {
	return typeof value === "string" && value.length ? value : undefined;
}

export class ModdableWiFi implements WiFiPort {
	#monitor: Monitor | undefined;
	#attempt = 0;

	connect(options: { ssid: string; password: string }, events: WiFiEvents): void {
		this.#stop();
		const attempt = ++this.#attempt;
		const later = (report: () => void) => timers.set(() => {
			if (attempt === this.#attempt) report();
		}, 0);

		if (!options.ssid) {
			later(() => events.onDisconnected("no WiFi network configured: build with wifi_ssid=<name> wifi_password=<password>"));
			return;
		}
		const ip = text(net.get("IP"));
		if (ip && text(net.get("SSID")) === options.ssid) {
			// Already joined (by setup/network, or still up from before): watch it and say so.
			this.#watch(attempt, events, undefined, true);
			later(() => events.onConnected(ip));
			return;
		}
		try {
			this.#watch(attempt, events, { ssid: options.ssid, password: options.password }, false);
		}
		catch (e) {
			// The driver refuses bad arguments (e.g. an SSID over 32 bytes) by throwing.
			this.#stop();
			later(() => events.onDisconnected(`cannot join "${options.ssid}": ${String(e)}`));
		}
	}

	disconnect(): void {
		this.#attempt++;
		this.#stop();
		try {
			WiFiStation.disconnect?.();
		}
		catch {
			// Not connected, or an SDK without WiFi.disconnect(): nothing to undo.
		}
	}

	rssi(): number | undefined {
		const rssi = net.get("RSSI");
		return typeof rssi === "number" && rssi < 0 ? rssi : undefined;
	}

	mac(): string | undefined {
		return text(net.get("MAC"));
	}

	#watch(attempt: number, events: WiFiEvents, join: { ssid: string; password: string } | undefined, up: boolean): void {
		let connected = up;
		this.#monitor = new WiFiStation(join, (message, value) => {
			if (attempt !== this.#attempt) return;
			if (message === "gotIP") {
				if (connected) return;
				connected = true;
				events.onConnected(text(net.get("IP")) ?? "");
			}
			else if (message === "disconnect") {
				const wasConnected = connected;
				this.#attempt++;
				this.#stop();
				events.onDisconnected(reason(value, wasConnected));
			}
		});
	}

	#stop(): void {
		const monitor = this.#monitor;
		this.#monitor = undefined;
		try {
			monitor?.close();
		}
		catch {
			// Already closed.
		}
	}
}

function reason(value: number | undefined, wasConnected: boolean): string {
	if (value === -1) return "password rejected";
	return wasConnected ? "connection lost" : "could not join (network not found, out of range or refused)";
}

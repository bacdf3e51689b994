/*
 * The Linux target's board: the module "board" of an x-cli-lin build (platforms/linux/manifest.json).
 *
 * The firmware's real module graph on Moddable's Linux runtime: sockets, timers, SNTP, preferences
 * and crypt are the SDK's own; what Linux lacks is simulated here: WiFi (the machine's network is
 * the access point), the DHT (a room that drifts), the status LED and the switched output (their
 * state is in the log: led.pattern, power.changed). The settings come from mc/config `linux`:
 * mac, ip, ssid, password, joinMs, rssi, memorySampleMs.
 *
 * SIGINT/SIGTERM stop the device cleanly (retained status online:false, DISCONNECT), then exit 0.
 */

import { onSignal } from "linux/host";
import { LinuxWiFi } from "adapters/linux/wifi";
import { SimulatedDhtLine } from "adapters/linux/dht";
import { linuxOta } from "adapters/linux/ota";
import { LinuxProcess } from "adapters/linux/process";
import { moddableTcp } from "adapters/socket";
import { unavailableCapture } from "dht/capture";
import type { BoardSetup, BoardWiring, DigitalOutput } from "ports";

function text(value: unknown, fallback: string): string {
	return typeof value === "string" && value ? value : fallback;
}
function count(value: unknown, fallback: number): number {
	const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
	return typeof n === "number" && Number.isFinite(n) ? n : fallback;
}

export function createBoard(setup: BoardSetup): BoardWiring {
	const { clock } = setup;
	const raw = setup.config.linux;
	const linux: Record<string, unknown> = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
	const model = setup.config.sensor === "dht11" ? "dht11" : "dht22";
	const process = new LinuxProcess({ clock, sampleMs: count(linux.memorySampleMs, 0) });
	const dark: DigitalOutput = { write() {} };
	const tcp = moddableTcp();
	const file = setup.config.file && typeof setup.config.file === "object" ? (setup.config.file as Record<string, unknown>) : {};

	return {
		// Made when main asks (only with an ota_public_key): it runs the simulated bootloader's step on the files.
		get ota() {
			return linuxOta(tcp, { root: text(file.root, "/tmp/sensor-firmware-"), capacity: count(linux.otaCapacity, 4 * 1024 * 1024), system: process });
		},
		ports: {
			wifi: new LinuxWiFi({
				clock,
				mac: text(linux.mac, "02:00:00:8E:A4:0C"),
				ip: text(linux.ip, "127.0.0.1"),
				ssid: text(linux.ssid, ""),
				password: text(linux.password, ""),
				joinMs: count(linux.joinMs, 200),
				rssi: count(linux.rssi, -55),
			}),
			tcp,
			led: dark,
			dht: setup.sensor ? new SimulatedDhtLine({ clock, model }) : unavailableCapture(clock, "no sensor (sensor=none)"),
			system: process,
		},
		started(device) {
			onSignal(() => device.shutdown(() => process.exit(0)));
		},
	};
}

/*
 * A simulated ESP32-S3 sensor node on the host: the same Device the board runs, wired to host
 * adapters. The world around it (access point, NTP servers, the DHT22 on the bench, the LED)
 * outlives a device restart; the device itself boots again on the same store, as a board does.
 *
 * Used by the simulator CLI (real clock, real TCP) and the tests (virtual clock, in-memory network).
 */

import { Device } from "../src/device";
import type { OtaLimits, OtaSetup } from "../src/ota/updater";
import type { Clock, KeyValueStore, LogSink, Random, TransportFactory } from "../src/ports";
import type { DeviceConfig } from "../src/settings";
import type { WorldClock } from "./adapters/clock";
import { SimulatedDht, indoorModel, type DhtFaults } from "./adapters/dht-sim";
import { RecordingLed } from "./adapters/led";
import { SimulatedSntp } from "./adapters/sntp";
import { HostSystem, nodeHmac } from "./adapters/system";
import { SimulatedWiFi, type MacFrom, type SimulatedNetwork } from "./adapters/wifi";
import { boot as bootFirmware } from "../src/provisioning/boot";
import type { SetupMode } from "../src/provisioning/setup-mode";
import { hostSetupPorts, type SimulatedAccessPoint } from "./provisioning/access-point";
import { nodeOtaCrypto } from "./ota/crypto";
import type { BootRecord, SimFlash } from "./ota/flash";

export interface SimulatedDeviceOptions {
	config: DeviceConfig;
	mac: string;
	/** A fresh device clock for each boot (uptime restarts at 0). */
	clock: () => Clock & { dispose(): void };
	/** The world's wall clock: NTP answers with it; radio and sensor delays run on it. */
	world: WorldClock;
	tcp: TransportFactory;
	store: KeyValueStore;
	log: LogSink;
	random: Random;
	dhtFaults?: DhtFaults;
	wifiJoinMs?: number;
	/** When the WiFi driver gives the MAC: "connect" (default, the wifi_ssid= build), "boot" (ssid=) or "never". */
	macFrom?: MacFrom;
	/** Firmware updates: the board's simulated two-slot flash (it outlives restarts) and the built-in key. */
	ota?: { flash: SimFlash; publicKey: string; board?: string; limits?: Partial<OtaLimits> };
	/** Writes each LED recorder keeps (default LED_HISTORY); a fleet keeps a few. */
	ledHistory?: number;
	/** Called after each boot (the first and after every restart) into the sensor firmware. */
	onBoot?: (device: Device, boot: number) => void;
	/**
	 * Provisioning (src/provisioning/): setup mode with a simulated access point, the setup page
	 * and captive DNS really served on 127.0.0.1 (ports 0: free ones). Without it the Device boots
	 * directly, as before.
	 */
	provisioning?: { httpPort?: number; dnsPort?: number; onSetup?: (setup: SetupMode, boot: number) => void };
	/** The networks in range of the simulated WiFi (see SimulatedWiFi). */
	networks?: SimulatedNetwork[];
}

export class SimulatedDevice {
	readonly wifi: SimulatedWiFi;
	readonly sntp: SimulatedSntp;
	readonly dht: SimulatedDht;
	readonly led: RecordingLed;
	readonly power: RecordingLed;
	readonly system: HostSystem;
	readonly accessPoint: SimulatedAccessPoint;
	readonly #o: SimulatedDeviceOptions;
	#device: Device | undefined;
	#setup: SetupMode | undefined;
	#clock: (Clock & { dispose(): void }) | undefined;
	boots = 0;
	/** What the simulated bootloader booted last (with ota). */
	booted: BootRecord | undefined;

	constructor(options: SimulatedDeviceOptions) {
		this.#o = options;
		const world = options.world;
		this.wifi = new SimulatedWiFi({ clock: world, mac: options.mac, macFrom: options.macFrom, joinDelayMs: options.wifiJoinMs ?? 1500, networks: options.networks });
		this.sntp = new SimulatedSntp({ clock: world, trueTime: () => world.now() });
		this.dht = new SimulatedDht({ clock: world, reading: indoorModel(world), faults: options.dhtFaults });
		this.led = new RecordingLed(() => world.now(), options.ledHistory);
		this.power = new RecordingLed(() => world.now(), options.ledHistory);
		this.system = new HostSystem((reason) => this.#reboot(reason));
		this.setupPorts = hostSetupPorts(this.wifi);
		this.accessPoint = this.setupPorts.ap;
	}

	readonly setupPorts: ReturnType<typeof hostSetupPorts>;

	/** Setup mode, when this boot opened it (undefined otherwise). */
	get setupMode(): SetupMode | undefined {
		return this.#setup;
	}

	get device(): Device {
		if (!this.#device) throw new Error("the simulated device has not booted");
		return this.#device;
	}

	get clock(): Clock {
		if (!this.#clock) throw new Error("the simulated device has not booted");
		return this.#clock;
	}

	boot(): Device | undefined {
		this.boots++;
		this.#clock = this.#o.clock();
		this.wifi.reset();
		this.#device = this.#setup = undefined;
		const { tcp, ota } = this.#firmware();
		const ports = {
			clock: this.#clock,
			wifi: this.wifi,
			sntp: this.sntp,
			tcp,
			led: this.led,
			power: this.power,
			dht: this.dht,
			store: this.#o.store,
			hmac: nodeHmac,
			random: this.#o.random,
			system: this.system,
			log: this.#o.log,
		};
		const provisioning = this.#o.provisioning;
		if (provisioning) {
			const booted = bootFirmware({ ports, config: this.#o.config, ota, setup: this.setupPorts, httpPort: provisioning.httpPort ?? 0, dnsPort: provisioning.dnsPort ?? 0 });
			if (booted.mode === "setup") {
				this.#setup = booted.setup;
				provisioning.onSetup?.(booted.setup, this.boots);
				return undefined;
			}
			this.#device = booted.device;
		}
		else {
			this.#device = new Device({ config: this.#o.config, ota, ports });
			this.#device.start();
		}
		this.#o.onBoot?.(this.#device, this.boots);
		return this.#device;
	}

	/** Stops cleanly (status offline, DISCONNECT); resolves when done. */
	shutdown(): Promise<void> {
		const device = this.#device;
		if (!device) {
			this.#setup?.stop();
			this.#clock?.dispose();
			return Promise.resolve();
		}
		return new Promise((resolve) => device.shutdown(() => {
			this.#clock?.dispose();
			resolve();
		}));
	}

	/** Power cut: no goodbye. */
	halt(): void {
		this.#device?.halt();
		this.#setup?.stop();
		this.#clock?.dispose();
	}

	/** The simulated bootloader picks the image; a broken image reaches no server. */
	#firmware(): { tcp: TransportFactory; ota?: OtaSetup } {
		const o = this.#o.ota;
		if (!o) return { tcp: this.#o.tcp };
		o.flash.onRestart = (reason) => this.system.restart(reason);
		const booted = (this.booted = o.flash.boot());
		const tcp = booted.header.fault === "cannot-connect" ? unreachable : this.#o.tcp;
		return { tcp, ota: { ports: { writer: o.flash.writer, boot: o.flash.bootControl, crypto: nodeOtaCrypto, http: tcp }, publicKey: o.publicKey, board: o.board ?? "esp32s3", limits: o.limits } };
	}

	#reboot(_reason: string): void {
		// On the board restart() does not return; here the old device stops and a new one boots.
		this.halt();
		this.#o.world.set(() => this.boot(), 300);
	}
}

/** A network stack that reaches nothing (the broken firmware of the rollback tests). */
const unreachable: TransportFactory = (options, events) => {
	setImmediate(() => events.onClose({ code: "unreachable", message: `connect EHOSTUNREACH ${options.host}:${options.port} (simulated broken firmware)` }));
	return { writable: 0, write: () => {}, close: () => {} };
};

/*
 * A simulated ESP32-S3 sensor node on the host: the same Device the board runs, wired to host
 * adapters. The world around it (access point, NTP servers, the DHT22 on the bench, the LED)
 * outlives a device restart; the device itself boots again on the same store, as a board does.
 *
 * Used by the simulator CLI (real clock, real TCP) and the tests (virtual clock, in-memory network).
 */

import { Device } from "../src/device";
import type { Clock, KeyValueStore, LogSink, Random, TransportFactory } from "../src/ports";
import type { DeviceConfig } from "../src/settings";
import type { WorldClock } from "./adapters/clock";
import { SimulatedDht, indoorModel, type DhtFaults } from "./adapters/dht-sim";
import { RecordingLed } from "./adapters/led";
import { SimulatedSntp } from "./adapters/sntp";
import { HostSystem, nodeHmac } from "./adapters/system";
import { SimulatedWiFi, type MacFrom } from "./adapters/wifi";

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
	/** Writes each LED recorder keeps (default LED_HISTORY); a fleet keeps a few. */
	ledHistory?: number;
	/** Called after each boot (the first and after every restart). */
	onBoot?: (device: Device, boot: number) => void;
}

export class SimulatedDevice {
	readonly wifi: SimulatedWiFi;
	readonly sntp: SimulatedSntp;
	readonly dht: SimulatedDht;
	readonly led: RecordingLed;
	readonly power: RecordingLed;
	readonly system: HostSystem;
	readonly #o: SimulatedDeviceOptions;
	#device: Device | undefined;
	#clock: (Clock & { dispose(): void }) | undefined;
	boots = 0;

	constructor(options: SimulatedDeviceOptions) {
		this.#o = options;
		const world = options.world;
		this.wifi = new SimulatedWiFi({ clock: world, mac: options.mac, macFrom: options.macFrom, joinDelayMs: options.wifiJoinMs ?? 1500 });
		this.sntp = new SimulatedSntp({ clock: world, trueTime: () => world.now() });
		this.dht = new SimulatedDht({ clock: world, reading: indoorModel(world), faults: options.dhtFaults });
		this.led = new RecordingLed(() => world.now(), options.ledHistory);
		this.power = new RecordingLed(() => world.now(), options.ledHistory);
		this.system = new HostSystem((reason) => this.#reboot(reason));
	}

	get device(): Device {
		if (!this.#device) throw new Error("the simulated device has not booted");
		return this.#device;
	}

	get clock(): Clock {
		if (!this.#clock) throw new Error("the simulated device has not booted");
		return this.#clock;
	}

	boot(): Device {
		this.boots++;
		this.#clock = this.#o.clock();
		this.wifi.reset();
		const device = new Device({
			config: this.#o.config,
			ports: {
				clock: this.#clock,
				wifi: this.wifi,
				sntp: this.sntp,
				tcp: this.#o.tcp,
				led: this.led,
				power: this.power,
				dht: this.dht,
				store: this.#o.store,
				hmac: nodeHmac,
				random: this.#o.random,
				system: this.system,
				log: this.#o.log,
			},
		});
		this.#device = device;
		device.start();
		this.#o.onBoot?.(device, this.boots);
		return device;
	}

	/** Stops cleanly (status offline, DISCONNECT); resolves when done. */
	shutdown(): Promise<void> {
		const device = this.#device;
		if (!device) return Promise.resolve();
		return new Promise((resolve) => device.shutdown(() => {
			this.#clock?.dispose();
			resolve();
		}));
	}

	/** Power cut: no goodbye. */
	halt(): void {
		this.#device?.halt();
		this.#clock?.dispose();
	}

	#reboot(_reason: string): void {
		// On the board restart() does not return; here the old device stops and a new one boots.
		this.halt();
		this.#o.world.set(() => this.boot(), 300);
	}
}

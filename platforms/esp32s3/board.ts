/*
 * The ESP32-S3 board: the module "board" of an esp32 build (see platforms/esp32s3/manifest.json).
 *
 * Wires the ports that differ between boards from the pins in the platform manifest (mc/config
 * `pins`): WiFi over the SDK's `wifi`, TCP and TLS sockets, the status LED (a WS2812 pixel or a
 * GPIO), the switched output, the DHT's native RMT receiver, the system (restart, free heap) and
 * setup mode's access point, web server, captive DNS, claim client and BOOT button.
 * A part whose pins are wrong or that cannot be set up is reported and left out.
 */

import { board } from "adapters/mc-config";
import { DhtCapture } from "adapters/esp32/dht-capture";
import { DigitalPinOutput } from "adapters/esp32/digital";
import { NeoPixelLed } from "adapters/esp32/neopixel-led";
import { esp32Ota } from "adapters/esp32/ota";
import { Esp32System } from "adapters/esp32/system";
import { moddableTcp } from "adapters/socket";
import { secureSockets } from "adapters/tls";
import { ModdableWiFi } from "adapters/esp32/wifi";
import { ModdableAccessPoint } from "adapters/esp32/access-point";
import { BootButton } from "adapters/esp32/button";
import { moddableDnsServers } from "adapters/dns-server";
import { moddableHttpClient } from "adapters/http-client";
import { moddableHttpServers } from "adapters/http-server";
import { unavailableCapture } from "dht/capture";
import type { BoardSetup, BoardWiring, DigitalOutput } from "ports";

/** The BOOT button of ESP32-S3 boards (a long press opens setup mode: src/provisioning/boot.ts). */
const BOOT_BUTTON_PIN = 0;

export function createBoard(setup: BoardSetup): BoardWiring {
	const { clock, problem } = setup;
	const pins = board(setup.config);
	for (const error of pins.errors) problem(error);
	const { led, dht, power } = pins.board;

	function make<T>(what: string, create: () => T, fallback: T): T {
		try {
			return create();
		}
		catch (e) {
			problem(`${what}: ${String(e)}`);
			return fallback;
		}
	}
	const noOutput: DigitalOutput = { write() {} };
	const noSensor = unavailableCapture(clock, "no DHT data pin configured (pins.dht in the platform manifest)");

	const tcp = moddableTcp(secureSockets);
	return {
		ota: esp32Ota(tcp),
		ports: {
			wifi: new ModdableWiFi(),
			tcp,
			led: led.kind === "neopixel"
				? make("status LED", () => new NeoPixelLed({ pin: led.pin, color: led.color, brightness: led.brightness }), noOutput)
				: led.kind === "gpio"
					? make("status LED", () => new DigitalPinOutput({ pin: led.pin, activeLow: led.activeLow }), noOutput)
					: noOutput,
			power: power ? make("power output", () => new DigitalPinOutput(power), undefined) : undefined,
			dht: dht && setup.sensor ? make("DHT sensor", () => new DhtCapture({ pin: dht.pin, clock }), noSensor) : noSensor,
			system: new Esp32System(),
		},
		provisioning: {
			setup: { ap: new ModdableAccessPoint(), http: moddableHttpServers, dns: moddableDnsServers, httpClient: moddableHttpClient },
			button: make("BOOT button", () => new BootButton({ pin: BOOT_BUTTON_PIN }), undefined),
		},
	};
}

/*
 * Device entry point: the build configuration (mc/config) becomes a DeviceConfig, the Moddable
 * adapters are wired to the board's pins, and the Device starts.
 *
 * A bad build configuration does not stop the device: each problem is traced as an error at boot
 * and again every five minutes (for a serial monitor attached later), the invalid settings keep
 * their defaults and everything else runs. A board part whose pins are wrong is left out (the
 * sensor then reports that it is not configured).
 */

import config from "mc/config";
import { ModdableClock } from "./adapters/clock";
import { consoleLog } from "./adapters/console";
import { moddableHmac, moddableRandom } from "./adapters/crypto";
import { DigitalPinOutput } from "./adapters/digital";
import { board, deviceSettings } from "./adapters/mc-config";
import { NeoPixelLed } from "./adapters/neopixel-led";
import { PreferenceStore } from "./adapters/preference";
import { RmtDhtCapture } from "./adapters/rmt-dht";
import { ModdableSntp } from "./adapters/sntp";
import { moddableTcp } from "./adapters/socket";
import { ModdableSystem } from "./adapters/system";
import { ModdableWiFi } from "./adapters/wifi";
import { Device } from "./device";
import type { DigitalOutput, PulseCapture } from "./ports";
import { defaultConfig, validateConfig } from "./settings";

const PROBLEM_REPEAT_MS = 5 * 60 * 1000;

const clock = new ModdableClock();
const settings = deviceSettings(config);
const validated = validateConfig(settings.input, defaultConfig(), { coerceStrings: true });
const pins = board(config);
const problems = [...settings.errors, ...validated.errors, ...pins.errors];

function reportProblems(): void {
	for (const problem of problems) trace(`<error>Build configuration: ${problem}\n`);
	trace(`<error>Build configuration: ${problems.length} problem(s); those settings keep their defaults. See README, Configuration.\n`);
}

function make<T>(what: string, create: () => T, fallback: T): T {
	try {
		return create();
	}
	catch (e) {
		problems.push(`${what}: ${String(e)}`);
		return fallback;
	}
}

const noOutput: DigitalOutput = { write() {} };
const noSensor: PulseCapture = {
	capture(_startLowUs, callback) {
		clock.set(() => callback(undefined, "no DHT data pin configured (pins.dht in the platform manifest)"), 0);
	},
};

const { led, dht, power } = pins.board;
const deviceConfig = validated.value;

const device = new Device({
	config: deviceConfig,
	ports: {
		clock,
		wifi: new ModdableWiFi(),
		sntp: new ModdableSntp(),
		tcp: moddableTcp,
		led: led.kind === "neopixel"
			? make("status LED", () => new NeoPixelLed({ pin: led.pin, color: led.color, brightness: led.brightness }), noOutput)
			: led.kind === "gpio"
				? make("status LED", () => new DigitalPinOutput({ pin: led.pin, activeLow: led.activeLow }), noOutput)
				: noOutput,
		power: power ? make("power output", () => new DigitalPinOutput(power), undefined) : undefined,
		dht: dht && deviceConfig.sensor.model !== "none" ? make("DHT sensor", () => new RmtDhtCapture({ pin: dht.pin, channel: dht.rmtChannel }), noSensor) : noSensor,
		store: new PreferenceStore("sensor"),
		hmac: moddableHmac,
		random: moddableRandom,
		system: new ModdableSystem(),
		log: consoleLog,
	},
});

if (problems.length) {
	reportProblems();
	clock.repeat(reportProblems, PROBLEM_REPEAT_MS);
}
device.start();

/*
 * Helpers for the provisioning tests: a simulated board in setup mode on the real clock (its setup
 * page and captive DNS really served on 127.0.0.1) and Debian's Chromium driven by playwright-core.
 */

import fs from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { defaultConfig, validateConfig, type DeviceConfig } from "../../src/settings";
import { RealClock, realWorldClock } from "../adapters/clock";
import { MemoryStore } from "../adapters/store";
import { RecordingSink, seededRandom } from "../adapters/system";
import { nodeTcp } from "../adapters/tcp";
import type { SimulatedNetwork } from "../adapters/wifi";
import { SimulatedDevice } from "../sim";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const MAC = "24:6F:28:8E:A4:0C";
export const CLIENT = "sensor_8EA40C";
export const LAB: SimulatedNetwork[] = [
	{ ssid: "lab", password: "lab-password-1", rssi: -48 },
	{ ssid: "neighbour", password: "secret-neighbour", rssi: -81 },
	{ ssid: "guest", password: "", rssi: -70 },
];

/** An unconfigured board's build: no WiFi network, NTP on the simulated server. */
export function unconfigured(patch: object = {}): DeviceConfig {
	const base = defaultConfig();
	base.time.servers = ["ntp.lab"];
	const checked = validateConfig(patch, base);
	if (checked.errors.length) throw new Error(checked.errors.join("; "));
	return checked.value;
}

export function setupBoard(config: DeviceConfig, options: { store?: MemoryStore; networks?: SimulatedNetwork[] } = {}) {
	const log = new RecordingSink();
	const store = options.store ?? new MemoryStore();
	const sim = new SimulatedDevice({
		config,
		mac: MAC,
		clock: () => new RealClock(),
		world: realWorldClock,
		tcp: nodeTcp,
		store,
		log: log.sink,
		random: seededRandom(7),
		wifiJoinMs: 100,
		networks: options.networks ?? LAB,
		provisioning: {},
	});
	sim.boot();
	return { sim, log, store };
}

/** Polls `done` every 25 ms; after `ms`, fails naming `what` (with the device's events). */
export async function until(done: () => boolean, ms: number, what: string, log?: RecordingSink): Promise<void> {
	const end = Date.now() + ms;
	while (!done()) {
		if (Date.now() > end) throw new Error(`timed out waiting for ${what}${log ? "\n" + log.records.map((r) => `${r.event} ${JSON.stringify({ ...r, ts: undefined, uptimeMs: undefined, event: undefined, level: undefined })}`).join("\n") : ""}`);
		await new Promise((r) => setTimeout(r, 25));
	}
}

/**
 * Chromium, or undefined when it is missing outside CI (with a loud banner); in CI (CI=true) a
 * missing browser fails the test.
 */
export async function launchBrowser(t: { log(message: string): void; fail(message: string): void }): Promise<Browser | undefined> {
	if (!fs.existsSync(CHROMIUM)) {
		const message = `Chromium not found at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH): the setup page tests cannot run`;
		if (process.env.CI === "true") {
			t.fail(message);
			return undefined;
		}
		const banner = "!".repeat(100);
		console.error(`\n${banner}\nSKIPPED: ${message}\n${banner}\n`);
		t.log(`SKIPPED: ${message}`);
		return undefined;
	}
	return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

/** A phone-sized page (390x844, touch) in its own context. */
export async function phonePage(browser: Browser): Promise<Page> {
	const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
	return context.newPage();
}

/** Waits for the board's setup page and opens it at phone size, its list of networks shown. */
export async function openSetupPage(browser: Browser, board: ReturnType<typeof setupBoard>): Promise<Page> {
	await until(() => board.sim.setupMode?.url !== undefined, 5000, "the setup page", board.log);
	const page = await phonePage(browser);
	await page.goto(board.sim.setupMode!.url!);
	await page.waitForSelector("#nets li >> text=lab");
	return page;
}

/** Fills the form's fields (those visible for the chosen auth mode). */
export async function fill(page: Page, values: Record<string, string>): Promise<void> {
	if (values.authMode !== undefined) await page.selectOption("#authMode", values.authMode);
	for (const [name, value] of Object.entries(values)) if (name !== "authMode") await page.fill(`#${name}`, value);
}

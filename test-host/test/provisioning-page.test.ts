/*
 * The setup page in a real headless Chromium (Debian's, driven by playwright-core), served by a
 * simulated board in setup mode whose HTTP server is real on 127.0.0.1; the board then goes online
 * on a real broker (aedes over TCP).
 */

import test from "ava";
import type { Browser } from "playwright-core";
import { EmbeddedBroker } from "../brokers/embedded";
import { CLIENT, fill, launchBrowser, openSetupPage, phonePage, setupBoard, unconfigured, until } from "../provisioning/testing";

let browser: Browser | undefined;
let broker: EmbeddedBroker;
let brokerPort = 0;

test.before(async () => {
	broker = await EmbeddedBroker.start({ auth: { mode: "none" } });
	brokerPort = await broker.listen();
});

test.after.always(async () => {
	await browser?.close();
	await broker?.close();
});

async function open(t: Parameters<typeof launchBrowser>[0]) {
	browser ??= await launchBrowser(t);
	return browser;
}

test.serial("an unconfigured board opens setup mode: access point named after the client id, password on the serial monitor, scanned networks on the page", async (t) => {
	const b = await open(t);
	if (!b) return t.pass();
	const board = setupBoard(unconfigured());
	try {
		await until(() => board.sim.setupMode?.url !== undefined, 5000, "the setup page to listen", board.log);
		const started = board.log.events("setup.started")[0];
		t.is(started.accessPoint, "sensor-8EA40C");
		t.regex(String(started.accessPointPassword), /^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$/);
		t.deepEqual(board.sim.accessPoint.open, { ssid: "sensor-8EA40C", password: started.accessPointPassword });
		t.is(board.log.events("led.pattern").at(-1)?.pattern, "setup");
		const page = await phonePage(b);
		await page.goto(board.sim.setupMode!.url!);
		await page.waitForSelector("#nets li >> text=lab");
		t.is(await page.textContent("#clientId"), CLIENT);
		const rows = await page.$$eval("#nets li", (lis) => lis.map((li) => li.textContent ?? ""));
		t.true(rows[0].startsWith("lab"), "strongest first");
		t.true(rows.some((r) => r.startsWith("guest") && r.includes("open")), "open networks are marked open");
		t.true(rows[0].includes("secured"));
		t.true(rows.some((r) => r.includes("-81 dBm")), "signal strength shown");
		await page.context().close();
	}
	finally {
		board.sim.halt();
	}
});

test.serial("a wrong WiFi password is reported next to the password field; the right one stores the settings and the board goes online", async (t) => {
	const b = await open(t);
	if (!b) return t.pass();
	const board = setupBoard(unconfigured());
	try {
		const page = await openSetupPage(b, board);
		await page.click("#nets li >> text=lab");
		t.is(await page.inputValue("#ssid"), "lab");
		await fill(page, { password: "not-the-password", brokerUrl: `mqtt://127.0.0.1:${brokerPort}`, authMode: "none", homeId: "flat7" });
		await page.click("#save");
		await page.waitForSelector("#err-password:has-text('wrong WiFi password')", { timeout: 15_000 });
		t.regex(await page.textContent("#banner") ?? "", /wrong WiFi password/);
		t.true(await page.$eval("#password", (e) => e.classList.contains("bad")));
		t.is(board.sim.setupMode?.status.state, "failed");
		t.is(board.store.get("setup"), undefined, "nothing stored after a failed attempt");

		await page.fill("#password", "lab-password-1");
		await page.click("#save");
		await page.waitForSelector(".msg.ok", { timeout: 15_000 });
		t.regex(await page.textContent("#banner") ?? "", /Joined lab/);
		t.is(await page.textContent("#err-password"), "");
		const stored = JSON.parse(String(board.store.get("setup")));
		t.like(stored, { wifi: { ssid: "lab", password: "lab-password-1" }, mqtt: { url: `mqtt://127.0.0.1:${brokerPort}` }, auth: { mode: "none" }, device: { homeId: "flat7" } });
		// The board restarts into the sensor firmware and goes online on the broker.
		await until(() => board.sim.boots === 2 && board.sim.setupMode === undefined, 10_000, "the restart into normal mode", board.log);
		await until(() => board.sim.device.supervisor.state === "ONLINE", 20_000, "online", board.log);
		t.is(board.sim.device.topics.status, `smarthome/flat7/${CLIENT}/status`);
		t.is(board.sim.wifi.ssid, "lab");
		t.false(JSON.stringify(board.log.records).includes("lab-password-1"), "the WiFi password never reaches the log");
		await page.context().close();
	}
	finally {
		board.sim.halt();
	}
});

test.serial("a bad broker URL gets its error next to the field from the server's validation (the schema's rule); nothing is tried", async (t) => {
	const b = await open(t);
	if (!b) return t.pass();
	const board = setupBoard(unconfigured());
	try {
		const page = await openSetupPage(b, board);
		// Passes the page's light check (a port of up to 5 digits), fails the schema (1 to 65535).
		await fill(page, { ssid: "lab", password: "lab-password-1", brokerUrl: "mqtt://broker.example:99999", authMode: "none", homeId: "a/b" });
		await page.click("#save");
		await page.waitForSelector("#err-brokerUrl:has-text('out of range')");
		t.regex(await page.textContent("#err-brokerUrl") ?? "", /port 99999 is out of range/);
		t.regex(await page.textContent("#err-homeId") ?? "", /no '\/'/, "each field its own error");
		t.is(board.sim.wifi.joins, 0, "no join attempted with an invalid form");
		// The page's own check: a URL that is not mqtt:// is refused before it is sent.
		await page.fill("#brokerUrl", "http://broker.example");
		await page.fill("#homeId", "home1");
		await page.click("#save");
		await page.waitForSelector("#err-brokerUrl:has-text('mqtt://host:port')");
		t.is(board.log.events("setup.invalid").length, 1, "the second form never reached the device");
		await page.context().close();
	}
	finally {
		board.sim.halt();
	}
});

test.serial("the setup API: secrets never sent back, captive redirects, bad JSON answered with a clear error", async (t) => {
	const board = setupBoard(unconfigured({ wifi: { ssid: "old-net", password: "old-password" }, auth: { mode: "password", username: "u", password: "mqtt-secret" } }));
	board.store.set("setupReq", "forced");
	board.sim.halt();
	board.sim.boot();
	try {
		await until(() => board.sim.setupMode?.url !== undefined, 5000, "the setup page", board.log);
		const url = board.sim.setupMode!.url!;
		const info = await (await fetch(`${url}api/info`)).text();
		t.false(info.includes("old-password"));
		t.false(info.includes("mqtt-secret"));
		t.like(JSON.parse(info), { clientId: CLIENT, values: { ssid: "old-net", username: "u", authMode: "password" }, secretsSet: ["password", "mqttPassword", "jwtSecret"] });
		const probe = await fetch(`${url}generate_204`, { redirect: "manual" });
		t.is(probe.status, 302);
		t.is(probe.headers.get("location"), url);
		const bad = await fetch(`${url}api/setup`, { method: "POST", body: "{nope" });
		t.is(bad.status, 400);
		t.deepEqual(await bad.json(), { errors: { form: "the form is not JSON" } });
		const proto = await fetch(`${url}api/setup`, { method: "POST", body: JSON.stringify({ ssid: "lab", __proto__x: 1, constructor: "x" }) });
		t.is(proto.status, 400);
		// An empty WiFi password on the same network keeps the stored one: no secret round trip needed.
		const same = await fetch(`${url}api/setup`, { method: "POST", body: JSON.stringify({ ssid: "old-net", brokerUrl: "mqtt://127.0.0.1:1", authMode: "password" }) });
		t.is(same.status, 202);
		t.is(board.log.events("setup.joining").length, 1);
	}
	finally {
		board.sim.halt();
	}
});

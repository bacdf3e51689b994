/*
 * Claiming against the stand-in backend: the setup page in headless Chromium, the claim server
 * creating the device's client in Debian's Mosquitto through dynamic security, the board then
 * connecting with the issued credentials; refused codes shown on the page.
 */

import test from "ava";
import mqtt from "mqtt";
import type { Browser } from "playwright-core";
import { requireMosquitto, startMosquitto, type Mosquitto } from "../brokers/mosquitto";
import { startClaimServer, type ClaimServer } from "../claim-server/server";
import { CLIENT, MAC, fill, launchBrowser, openSetupPage, setupBoard, unconfigured, until } from "../provisioning/testing";

let browser: Browser | undefined;
let broker: Mosquitto | undefined;
let server: ClaimServer | undefined;

async function prepare(t: Parameters<typeof launchBrowser>[0] & { pass(): void }): Promise<boolean> {
	if (!(await requireMosquitto(t))) return false;
	browser ??= await launchBrowser(t);
	if (!browser) return false;
	broker ??= await startMosquitto({ dynsec: { adminUser: "admin", adminPassword: "admin-pass" } });
	server ??= await startClaimServer({ broker, brokerUrl: `mqtt://127.0.0.1:${broker.port}` });
	return true;
}

test.after.always(async () => {
	await browser?.close();
	await server?.close();
	await broker?.stop();
});

test.serial("a claim code: the device is claimed by the claim server and connects to Mosquitto with the issued credentials", async (t) => {
	if (!(await prepare(t))) return t.pass();
	const { code } = server!.issue(600);
	const board = setupBoard(unconfigured());
	try {
		const page = await openSetupPage(browser!, board);
		// The broker URL left at its default: the claim server's answer names the broker.
		await fill(page, { ssid: "lab", password: "lab-password-1", claimCode: code, claimUrl: server!.claimUrl });
		await page.click("#save");
		await page.waitForSelector(".msg.ok", { timeout: 20_000 });
		t.regex(await page.textContent("#banner") ?? "", new RegExp(`claimed as ${CLIENT}`));
		t.like(server!.claimed[0], { code, clientId: CLIENT, mac: MAC, firmwareVersion: "0.1.0" });
		const cred = JSON.parse(String(board.store.get("cred")));
		t.is(cred.username, CLIENT);
		t.true(cred.password.length >= 20);

		await until(() => board.sim.boots === 2 && board.sim.setupMode === undefined, 10_000, "the restart", board.log);
		await until(() => board.sim.device.supervisor.state === "ONLINE", 30_000, "online on Mosquitto", board.log);
		t.is(board.sim.device.config.auth.mode, "password");
		t.is(board.sim.device.config.mqtt.url, `mqtt://127.0.0.1:${broker!.port}`);
		t.like(JSON.parse(String(board.store.get("cred"))), { username: CLIENT, verified: true });
		// The broker knows the client the claim created, with the role.
		t.regex(await broker!.dynsec("getClient", CLIENT), /device/, "the client has the device role");
		// A backend receives the device's status.
		await broker!.dynsec("createClient", "backend", "-p", "backend-pass").catch(() => undefined);
		await broker!.dynsec("addClientRole", "backend", "device").catch(() => undefined);
		const peer = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker!.port}`, { username: "backend", password: "backend-pass", clientId: "backend", reconnectPeriod: 0 });
		const status = new Promise<string>((resolve) => peer.on("message", (_topic, payload) => resolve(payload.toString())));
		await peer.subscribeAsync(`smarthome/home1/${CLIENT}/status`, { qos: 1 });
		t.like(JSON.parse(await status), { online: true });
		// The claimed credentials rotate as before: rotate_credentials, then the broker switches.
		const answers: Record<string, unknown>[] = [];
		peer.on("message", (topic, payload) => {
			if (topic.endsWith("/responses")) answers.push(JSON.parse(payload.toString()));
		});
		await peer.subscribeAsync(`smarthome/home1/${CLIENT}/responses`, { qos: 1 });
		await peer.publishAsync(`smarthome/home1/${CLIENT}/commands`, JSON.stringify({ commandId: "rot-1", type: "rotate_credentials", payload: { password: "rotated-after-claim" } }), { qos: 1 });
		await until(() => answers.some((r) => r.commandId === "rot-1"), 10_000, "the rotation answer");
		t.like(answers.find((r) => r.commandId === "rot-1"), { status: "ok" });
		await broker!.dynsec("setClientPassword", CLIENT, "rotated-after-claim");
		await until(() => board.log.events("credentials.verified").some((r) => r.username === CLIENT) && JSON.parse(String(board.store.get("cred"))).password === "rotated-after-claim" && board.sim.device.supervisor.state === "ONLINE", 30_000, "the rotated credentials accepted", board.log);
		t.like(JSON.parse(String(board.store.get("cred"))), { username: CLIENT, password: "rotated-after-claim", verified: true });
		await peer.endAsync();
		t.false(JSON.stringify(board.log.records).includes(cred.password), "the issued password never reaches the log");
		await page.context().close();

		// The code is used now: a second claim with it is refused.
		const again = await fetch(server!.claimUrl, { method: "POST", body: JSON.stringify({ claimCode: code, mac: MAC, clientId: CLIENT, firmwareVersion: "0.1.0" }) });
		t.is(again.status, 409);
	}
	finally {
		board.sim.halt();
	}
});

test.serial("an expired claim code is shown next to the claim code field and on the serial monitor; nothing is stored", async (t) => {
	if (!(await prepare(t))) return t.pass();
	const { code } = server!.issue(0);
	await new Promise((r) => setTimeout(r, 20));
	const board = setupBoard(unconfigured());
	try {
		const page = await openSetupPage(browser!, board);
		await fill(page, { ssid: "lab", password: "lab-password-1", claimCode: code, claimUrl: server!.claimUrl });
		await page.click("#save");
		await page.waitForSelector("#err-claimCode:has-text('expired')", { timeout: 20_000 });
		t.regex(await page.textContent("#banner") ?? "", /claim refused: claim code expired/);
		t.like(board.log.events("claim.failed")[0], { level: "error", code: "expired" });
		t.is(board.store.get("setup"), undefined);
		t.is(board.store.get("cred"), undefined);
		t.is(board.sim.setupMode?.status.state, "failed");
		// An unknown code is refused the same way.
		await page.fill("#claimCode", "NOPE-NOPE");
		await page.click("#save");
		await page.waitForSelector("#err-claimCode:has-text('unknown claim code')", { timeout: 20_000 });
		await page.context().close();
	}
	finally {
		board.sim.halt();
	}
});

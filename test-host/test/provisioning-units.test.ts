/*
 * Provisioning's parts one by one: the access point's name and password, the captive DNS over real
 * UDP, the form's validation with the schema's rules, the claim answer, the fallback to setup mode
 * when the stored network stays unreachable, and the BOOT button.
 */

import dgram from "node:dgram";
import test from "ava";
import { defaultConfig } from "../../src/settings";
import { accessPointName, accessPointPassword } from "../../src/provisioning/access-key";
import { interpret } from "../../src/provisioning/claim";
import { captiveAnswer, questionName } from "../../src/provisioning/dns";
import { validateSetupForm } from "../../src/provisioning/form";
import { classifyJoinFailure } from "../../src/provisioning/setup-mode";
import { nodeHmac } from "../adapters/system";
import { nodeDnsServers } from "../provisioning/servers";
import { World } from "../world";

test("the access point is named after the client id; its password is derived from the MAC and the build secret", (t) => {
	t.is(accessPointName("24:6f:28:8e:a4:0c"), "sensor-8EA40C");
	const a = accessPointPassword("24:6F:28:8E:A4:0C", "secret-one", nodeHmac);
	t.regex(a, /^[A-HJ-NP-Z2-9]{5}-[A-HJ-NP-Z2-9]{5}$/);
	t.is(accessPointPassword("24:6f:28:8e:a4:0c", "secret-one", nodeHmac), a, "the same for any spelling of the MAC");
	t.not(accessPointPassword("24:6F:28:8E:A4:0D", "secret-one", nodeHmac), a, "another board, another password");
	t.not(accessPointPassword("24:6F:28:8E:A4:0C", "secret-two", nodeHmac), a, "another build secret, another password");
	t.true(a.length >= 8, "WPA2 needs 8 characters at least");
});

function query(name: string, type = 1, id = 0x1234): Buffer {
	const labels = name.split(".").flatMap((l) => [l.length, ...Buffer.from(l)]);
	return Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]);
}

test("captive DNS over real UDP: every A query gets the access point's address; other types an empty answer; junk no answer", async (t) => {
	const port = await new Promise<number>((resolve) => {
		const server = nodeDnsServers.start("192.168.4.1", 0, resolve);
		t.teardown(() => server.close());
	});
	const client = dgram.createSocket("udp4");
	t.teardown(() => client.close());
	const ask = (packet: Buffer) => new Promise<Buffer | undefined>((resolve) => {
		const timer = setTimeout(() => resolve(undefined), 1500);
		client.once("message", (msg) => {
			clearTimeout(timer);
			resolve(msg);
		});
		client.send(packet, port, "127.0.0.1");
	});
	const answer = await ask(query("connectivitycheck.gstatic.com"));
	t.truthy(answer);
	t.is(answer!.readUInt16BE(0), 0x1234, "same id");
	t.true((answer![2] & 0x80) !== 0, "a response");
	t.is(answer!.readUInt16BE(6), 1, "one answer");
	t.deepEqual([...answer!.subarray(answer!.length - 4)], [192, 168, 4, 1]);
	t.is(questionName(new Uint8Array(answer!)), "connectivitycheck.gstatic.com");
	const aaaa = await ask(query("example.com", 28, 7));
	t.is(aaaa!.readUInt16BE(6), 0, "no AAAA answer, but an answer");
	t.is(await ask(Buffer.from([1, 2, 3])), undefined, "a malformed packet is ignored");
	t.is(captiveAnswer(new Uint8Array([0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1]), "192.168.4.1"), undefined, "a response is not answered");
	t.is(captiveAnswer(new Uint8Array(query("x.y")), "not-an-ip"), undefined);
});

test("the form: the schema's rules, each error keyed by its field; claim codes; secrets kept when left empty", (t) => {
	const base = defaultConfig();
	const bad = validateSetupForm({ ssid: "", password: "short", brokerUrl: "http://x", authMode: "magic", homeId: "a#b", claimCode: "!!" }, base);
	t.false(bad.ok);
	if (bad.ok) return;
	t.regex(bad.errors.ssid!, /required/);
	t.regex(bad.errors.password!, /8 to 63/);
	t.regex(bad.errors.brokerUrl!, /mqtt:\/\/host:port/);
	t.regex(bad.errors.authMode!, /one of "jwt", "password", "none"/);
	t.regex(bad.errors.homeId!, /topic level/);
	t.regex(bad.errors.claimCode!, /4 to 64/);
	const tls = validateSetupForm({ ssid: "lab", password: "lab-password-1", brokerUrl: "mqtts://broker:8883", authMode: "none" }, base);
	t.regex(tls.ok ? "" : tls.errors.brokerUrl ?? "", /CA certificate/, "a cross-field rule shown at the field it concerns");
	t.false(validateSetupForm({ ssid: "lab", claimCode: "ABCD-1234" }, base).ok, "a claim code needs a claim URL");
	const claim = validateSetupForm({ ssid: "lab", password: "lab-password-1", claimCode: "ABCD-1234", claimUrl: "http://10.0.0.2:8787/claim" }, base);
	t.true(claim.ok);
	if (claim.ok) {
		t.is(claim.value.claimCode, "ABCD-1234");
		t.is(claim.value.config.auth.mode, "password", "claimed credentials are a user name and password");
	}
	const current = defaultConfig();
	current.wifi.ssid = "home";
	current.wifi.password = "home-password";
	const same = validateSetupForm({ ssid: "home", password: "", authMode: "none" }, current);
	t.true(same.ok && same.value.config.wifi.password === "home-password", "same network, empty password: the stored one");
	const other = validateSetupForm({ ssid: "guest", authMode: "none" }, current);
	t.true(other.ok && other.value.config.wifi.password === "", "another network without a password: an open network");
	t.deepEqual(validateSetupForm({ ssid: "lab", constructor: "x" }, base), { ok: false, errors: { form: "unknown field \"constructor\"" } });
	t.deepEqual(validateSetupForm([], base), { ok: false, errors: { form: "the form must be a JSON object" } });
	t.like(validateSetupForm({ ssid: 5 }, base), { ok: false, errors: { ssid: "must be text" } });
});

test("the claim answer: credentials, or why not (unknown, used, expired, a broken answer)", (t) => {
	t.deepEqual(interpret(200, JSON.stringify({ username: "u", password: "p", brokerUrl: "mqtt://b:1883" })), { ok: true, username: "u", password: "p", brokerUrl: "mqtt://b:1883" });
	t.like(interpret(404, "{\"error\":\"unknown claim code\"}"), { ok: false, code: "unknown", error: "claim refused: unknown claim code" });
	t.like(interpret(409, "{}"), { ok: false, code: "used", error: "claim refused: HTTP 409" });
	t.like(interpret(410, "{\"error\":\"claim code expired\"}"), { ok: false, code: "expired" });
	t.like(interpret(200, "not json"), { ok: false, code: "bad_response" });
	t.like(interpret(200, JSON.stringify({ username: "u" })), { ok: false, code: "bad_response" });
	t.like(interpret(500, "<html>"), { ok: false, code: "refused" });
});

test("join failures name their field: wrong password, not found", (t) => {
	t.like(classifyJoinFailure("authentication failed (wrong password)"), { field: "password" });
	t.like(classifyJoinFailure("password rejected"), { field: "password" });
	t.like(classifyJoinFailure("no access point found (network not found)"), { field: "ssid" });
	t.like(classifyJoinFailure("could not join (network not found, out of range or refused)"), { field: "ssid" });
});

test("the stored network unreachable for provisioning.setupAfter minutes: setup mode, which gives the network another chance later", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ config: World.config({ provisioning: { setupAfter: 3 } }), provisioning: true, networks: [{ ssid: "elsewhere", password: "elsewhere-pass", rssi: -60 }] });
		await world.runUntil(() => d.sim.setupMode !== undefined, 10 * 60_000);
		t.truthy(d.sim.setupMode, "setup mode opened");
		t.like(d.events("setup.requested")[0], { reason: "no WiFi for 3 min: setup mode" });
		t.is(d.store.get("setupReq"), "fallback");
		const enteredAt = world.time.now;
		// Nobody uses it: after the same time the device tries its network again (not stranded in setup mode).
		await world.runUntil(() => d.sim.boots === 3, 10 * 60_000);
		t.true(world.time.now - enteredAt >= 3 * 60_000);
		t.is(d.sim.setupMode, undefined);
		t.is(d.store.get("setupReq"), undefined);
		t.truthy(d.events("setup.retry_network")[0]);
	}
	finally {
		for (const d of world.devices) d.sim.halt();
		await world.close();
	}
});

test("a BOOT button long press opens setup mode", async (t) => {
	const { boot } = await import("../../src/provisioning/boot");
	const world = await World.create();
	try {
		const d = world.addDevice({ boot: false });
		let press: (() => void) | undefined;
		let heldMs = 0;
		const button = { onLongPress: (ms: number, callback: () => void) => { heldMs = ms; press = callback; }, close() {} };
		const { RecordingLed } = await import("../adapters/led");
		const ports = { clock: world.time.clock(), wifi: d.sim.wifi, sntp: d.sim.sntp, tcp: world.network.tcp, led: new RecordingLed(() => world.time.now), dht: d.sim.dht, store: d.store, hmac: nodeHmac, random: { float: () => 0.5, bytes: (n: number) => new Uint8Array(n) }, system: { restart: (reason: string) => restarts.push(reason), freeMemory: () => undefined }, log: d.log.sink };
		const restarts: string[] = [];
		const booted = boot({ ports, config: World.config(), setup: d.sim.setupPorts, button });
		t.is(booted.mode, "normal");
		t.is(heldMs, 5000);
		await world.runUntil(() => booted.mode === "normal" && booted.device.supervisor.state === "ONLINE", 60_000);
		press!();
		await world.run(3_000);
		t.deepEqual(restarts, ["BOOT button held: setup mode"]);
		t.is(d.store.get("setupReq"), "forced");
		if (booted.mode === "normal") booted.device.halt();
	}
	finally {
		await world.close();
	}
});

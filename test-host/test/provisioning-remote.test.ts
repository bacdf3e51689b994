/*
 * What the backend can do to the network settings, on the virtual clock with aedes: remote
 * wifiConfig (an unreachable network falls back to the one in use, a reachable one is kept) and
 * factory_reset (answered, then setup mode).
 */

import test from "ava";
import { World, type DeviceHandle } from "../world";

const BASE = "smarthome/home1/sensor_8EA40C";
const NETWORKS = [
	{ ssid: "test-ap", password: "test-pass", rssi: -50 },
	{ ssid: "office", password: "office-pass", rssi: -62 },
];

async function setup() {
	const world = await World.create();
	const d = world.addDevice({ mac: "24:6F:28:8E:A4:0C", config: World.config({ wifi: { retryMin: 2 } }), provisioning: true, networks: NETWORKS });
	await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
	await world.run(1_000);
	return { world, d };
}

function statuses(world: World): { online: boolean; config: { wifiConfig: { ssid: string; reconnectInterval: number } } }[] {
	return world.messages("/status").map((m) => JSON.parse(m.payload).status ?? JSON.parse(m.payload));
}

function responses(world: World): Record<string, unknown>[] {
	return world.received.filter((m) => m.topic === `${BASE}/responses`).map((m) => JSON.parse(m.payload));
}

async function online(world: World, d: DeviceHandle, connections: number): Promise<void> {
	const ok = await world.runUntil(() => d.events("mqtt.connected").length >= connections && d.sim.device.supervisor.state === "ONLINE", 120_000);
	if (!ok) throw new Error(`not online again: ${d.log.names().slice(-30).join(", ")}`);
	await world.run(1_000);
}

test("remote wifiConfig with an unreachable SSID: reconnectInterval applied at once, the SSID tried once, back on the previous network, reported", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(`${BASE}/config`, { config: { wifiConfig: { ssid: "nowhere", password: "whatever-pass", reconnectInterval: 5 } } });
		await world.run(500);
		t.like(responses(world).at(-1), { type: "config", status: "ok", result: { changed: ["wifiConfig.ssid", "wifiConfig.password", "wifiConfig.reconnectInterval"] } });
		t.is(d.sim.device.config.wifi.retryMin, 5, "reconnectInterval at once");
		await online(world, d, 2);
		t.like(d.events("wifi.trying")[0], { ssid: "nowhere", previous: "test-ap" });
		t.like(d.events("wifi.fallback")[0], { tried: "nowhere", using: "test-ap" });
		t.regex(String(d.events("wifi.fallback")[0].reason), /not found/);
		t.is(d.sim.wifi.ssid, "test-ap");
		t.is(d.sim.device.config.wifi.ssid, "test-ap");
		t.deepEqual(statuses(world).at(-1)!.config.wifiConfig, { ssid: "test-ap", reconnectInterval: 5 }, "the status says which network is used");
		t.is(d.store.get("setup"), undefined, "the unreachable network is not stored");
		t.false(JSON.stringify(world.messages("/status")).includes("whatever-pass"));
		t.false(String(d.store.get("config")).includes("whatever-pass"), "the password is not in the stored remote configuration");
	}
	finally {
		await world.close();
	}
});

test("remote wifiConfig with a wrong password for a network in range: fallback as well", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(`${BASE}/config`, { config: { wifiConfig: { ssid: "office", password: "not-office-pass", reconnectInterval: 2 } } });
		await online(world, d, 2);
		t.regex(String(d.events("wifi.fallback")[0].reason), /wrong password/);
		t.is(d.sim.wifi.ssid, "test-ap");
	}
	finally {
		await world.close();
	}
});

test("remote wifiConfig with a reachable SSID: joined, kept once online, stored for the next boot, reported", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(`${BASE}/config`, { config: { wifiConfig: { ssid: "office", password: "office-pass", reconnectInterval: 2 } } });
		await online(world, d, 2);
		t.is(d.sim.wifi.ssid, "office");
		t.like(d.events("wifi.network")[0], { ssid: "office" });
		t.is(d.events("wifi.fallback").length, 0);
		t.is(d.sim.device.config.wifi.ssid, "office");
		t.deepEqual(statuses(world).at(-1)!.config.wifiConfig, { ssid: "office", reconnectInterval: 2 });
		t.like(JSON.parse(String(d.store.get("setup"))), { wifi: { ssid: "office", password: "office-pass" } });
		t.false(JSON.stringify(d.log.records).includes("office-pass"), "the password never reaches the log");
		// A restart comes back on the new network.
		d.sim.device.receive({ topic: `${BASE}/commands`, payload: new TextEncoder().encode(JSON.stringify({ commandId: "r-1", type: "reboot" })), qos: 1, retain: false } as never);
		await world.runUntil(() => d.sim.boots === 2, 30_000);
		await online(world, d, 1);
		t.is(d.sim.wifi.ssid, "office");
		t.is(d.sim.device.config.wifi.ssid, "office");
	}
	finally {
		await world.close();
	}
});

test("factory_reset is answered, then the settings setup and the backend wrote are forgotten and the board opens setup mode", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(`${BASE}/config`, { config: { sampleRate: 12 } });
		await world.run(500);
		t.not(d.store.get("config"), undefined);
		const boots = JSON.parse(String(d.store.get("counters"))).boots;
		await world.inject(`${BASE}/commands`, { commandId: "fr-1", type: "factory_reset" });
		await world.runUntil(() => d.sim.setupMode !== undefined, 30_000);
		const answer = responses(world).find((r) => r.commandId === "fr-1");
		t.like(answer, { status: "ok", type: "factory_reset", result: { next: "setup mode" } });
		const answeredAt = world.received.find((m) => m.payload.includes("\"fr-1\""))!.at;
		const offlineAt = world.messages("/status").filter((m) => m.payload.includes("\"online\":false")).at(-1)!.at;
		t.true(answeredAt <= offlineAt, "answered before it happens");
		t.is(d.sim.boots, 2);
		t.is(d.store.get("config"), undefined);
		t.is(d.store.get("setup"), undefined);
		t.is(d.store.get("cmdLog"), undefined);
		t.is(JSON.parse(String(d.store.get("counters"))).boots, boots, "the boot counter is kept (setup mode does not count a sensor boot)");
		for (let i = 0; i < 200 && !d.events("setup.started").length; i++) await new Promise((r) => setTimeout(r, 25)); // the real HTTP server
		t.like(d.events("setup.started")[0], { reason: "forced", accessPoint: "sensor-8EA40C" });
		t.truthy(d.sim.accessPoint.open);
	}
	finally {
		d.sim.halt();
		await world.close();
	}
});

/*
 * The whole device against Debian's Mosquitto over real TCP: credential rotation with the dynamic
 * security plugin (and the fallback when the broker refuses the new password), and TLS.
 */

import test from "ava";
import mqtt from "mqtt";
import type { DeviceConfig } from "../../src/settings";
import { MemoryStore } from "../adapters/store";
import { requireMosquitto, startMosquitto, type Mosquitto } from "../brokers/mosquitto";
import { BASE, CLIENT, config, realDevice, until } from "./helpers/real-device";

function device(cfg: DeviceConfig, store = new MemoryStore()) {
	return realDevice(cfg, { store, seed: 3 });
}


async function dynsecBroker(): Promise<Mosquitto> {
	const broker = await startMosquitto({ dynsec: { adminUser: "admin", adminPassword: "admin-pass" } });
	await broker.dynsec("createRole", "device");
	for (const [type, topic] of [["publishClientSend", "smarthome/#"], ["publishClientReceive", "smarthome/#"], ["subscribePattern", "smarthome/#"]])
		await broker.dynsec("addRoleACL", "device", type, topic, "allow", "5");
	await broker.dynsec("createClient", CLIENT, "-p", "old-pass");
	await broker.dynsec("addClientRole", CLIENT, "device");
	await broker.dynsec("createClient", "backend", "-p", "backend-pass");
	await broker.dynsec("addClientRole", "backend", "device");
	return broker;
}

function backend(broker: Mosquitto) {
	return mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { username: "backend", password: "backend-pass", clientId: "backend", reconnectPeriod: 0 });
}

for (const protocolVersion of [4, 5] as const) {
	test.serial(`rotate_credentials with dynamic security (MQTT ${protocolVersion === 4 ? "3.1.1" : "5.0"}): the device moves to the new password`, async (t) => {
		if (!(await requireMosquitto(t))) return t.pass();
		const broker = await dynsecBroker();
		const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, protocolVersion, backoffMin: 1, backoffMax: 2 }, auth: { mode: "password", username: CLIENT, password: "old-pass" } }));
		const peer = await backend(broker);
		try {
			await until(() => d.sim.device.supervisor.state === "ONLINE", 10_000, "online", d.log.records);
			const responses: Record<string, unknown>[] = [];
			await peer.subscribeAsync(`${BASE}/responses`, { qos: 1 });
			peer.on("message", (_topic, payload) => responses.push(JSON.parse(payload.toString())));
			// The backend's order: tell the device first, then change the broker (which kicks it).
			await peer.publishAsync(`${BASE}/commands`, JSON.stringify({ commandId: "rot-1", type: "rotate_credentials", payload: { password: "new-pass" } }), { qos: 1 });
			await until(() => responses.some((r) => r.commandId === "rot-1"), 5_000, "the rotation response");
			t.like(responses.find((r) => r.commandId === "rot-1"), { status: "ok" });
			await broker.dynsec("setClientPassword", CLIENT, "new-pass");
			await until(() => d.log.events("credentials.verified").length > 0, 15_000, "the new credentials to be accepted", d.log.records);
			t.true(d.log.events("mqtt.disconnected").length >= 1, "the broker kicked the old connection");
			if (protocolVersion === 5) t.is(d.log.events("mqtt.disconnected")[0].code, "administrative_action");
			t.is(d.sim.device.supervisor.state, "ONLINE");
			t.like(JSON.parse(String(d.store.get("cred"))), { username: CLIENT, password: "new-pass", verified: true });
			t.is(d.store.get("credAlt"), undefined, "the old password is forgotten once the new one works");
			t.false(JSON.stringify(d.log.records).includes("new-pass"), "passwords never reach the log");
		}
		finally {
			await peer.endAsync();
			d.sim.halt();
			await broker.stop();
		}
	});
}

test.serial("a rotation the broker never applied cannot strand the device: it falls back to the previous password", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	const broker = await dynsecBroker();
	const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, protocolVersion: 5, backoffMin: 1, backoffMax: 2 }, auth: { mode: "password", username: CLIENT, password: "old-pass" } }));
	const peer = await backend(broker);
	try {
		await until(() => d.sim.device.supervisor.state === "ONLINE", 10_000, "online", d.log.records);
		await peer.publishAsync(`${BASE}/commands`, JSON.stringify({ commandId: "rot-2", type: "rotate_credentials", payload: { password: "never-applied" } }), { qos: 1 });
		await until(() => d.log.events("credentials.rotated").length > 0, 5_000, "the rotation");
		// Something else drops the connection (here: the broker restarts) before the backend changed the password.
		await broker.restart();
		await until(() => d.log.events("credentials.rollback").length > 0 && d.sim.device.supervisor.state === "ONLINE", 20_000, "the fallback", d.log.records);
		const refused = d.log.events("mqtt.connect_failed");
		t.true(refused.some((r) => r.code === "credentials_refused" && r.reasonCode === 0x87));
		t.like(JSON.parse(String(d.store.get("cred"))), { password: "old-pass", verified: true });
		t.like(JSON.parse(String(d.store.get("credAlt"))), { password: "never-applied", verified: false }, "kept in case the broker switches later");
		// If the backend applies it after all, the device follows.
		await broker.dynsec("setClientPassword", CLIENT, "never-applied");
		await until(() => d.log.events("credentials.verified").length > 0 && d.sim.device.supervisor.state === "ONLINE", 20_000, "the late switch", d.log.records);
		t.like(JSON.parse(String(d.store.get("cred"))), { password: "never-applied", verified: true });
	}
	finally {
		await peer.endAsync();
		d.sim.halt();
		await broker.stop();
	}
});

test.serial("mqtts:// with the broker's CA connects; with another CA it fails with the TLS diagnostic", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	const broker = await startMosquitto({ users: { [CLIENT]: "tls-pass" }, tls: true });
	const auth = { mode: "password", username: CLIENT, password: "tls-pass" };
	const good = device(config({ mqtt: { url: `mqtts://localhost:${broker.tlsPort}`, ca: broker.caPem, backoffMin: 1 }, auth }));
	try {
		await until(() => good.sim.device.supervisor.state === "ONLINE", 10_000, "online over TLS", good.log.records);
		t.true(good.log.events("mqtt.connecting")[0].tls as boolean);
		good.sim.halt();
		const bad = device(config({ mqtt: { url: `mqtts://localhost:${broker.tlsPort}`, ca: broker.otherCaPem, backoffMin: 1 }, auth }));
		await until(() => bad.log.events("mqtt.connect_failed").length > 0, 10_000, "the TLS failure", bad.log.records);
		const failure = bad.log.events("mqtt.connect_failed")[0];
		t.is(failure.code, "tls_failed");
		t.regex(String(failure.fix), /mqtt\.ca/);
		t.is(bad.sim.device.supervisor.state, "MQTT");
		bad.sim.halt();
	}
	finally {
		good.sim.halt();
		await broker.stop();
	}
});

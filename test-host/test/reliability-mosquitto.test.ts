/*
 * Issue 9's application rules over a real broker: Debian's Mosquitto over real TCP, a backend
 * speaking MQTT.js. A retained command never runs; a refused subscription is reported and retried
 * until the broker grants it; a burst of commands is answered or counted; refused credentials get
 * the fix for the auth mode in use.
 */

import test from "ava";
import mqtt from "mqtt";
import type { DeviceConfig } from "../../src/settings";
import { MemoryStore } from "../adapters/store";
import { requireMosquitto, startMosquitto, type Mosquitto } from "../brokers/mosquitto";
import { BASE, CLIENT, config, realDevice, until } from "./helpers/real-device";

function device(cfg: DeviceConfig, store = new MemoryStore()) {
	return realDevice(cfg, { store, seed: 11 });
}


function sleep(ms: number): Promise<void> {
	return new Promise((r) => setTimeout(r, ms));
}

async function dynsecBroker(subscribeCommands: boolean): Promise<Mosquitto> {
	const broker = await startMosquitto({ dynsec: { adminUser: "admin", adminPassword: "admin-pass" } });
	await broker.dynsec("createRole", "device");
	await broker.dynsec("addRoleACL", "device", "publishClientSend", "smarthome/#", "allow", "5");
	await broker.dynsec("addRoleACL", "device", "publishClientReceive", "smarthome/#", "allow", "5");
	await broker.dynsec("addRoleACL", "device", "subscribePattern", `${BASE}/config`, "allow", "5");
	if (subscribeCommands) await broker.dynsec("addRoleACL", "device", "subscribePattern", "smarthome/#", "allow", "5");
	await broker.dynsec("createClient", CLIENT, "-p", "pass");
	await broker.dynsec("addClientRole", CLIENT, "device");
	await broker.dynsec("createRole", "backend");
	for (const type of ["publishClientSend", "publishClientReceive", "subscribePattern"]) await broker.dynsec("addRoleACL", "backend", type, "smarthome/#", "allow", "5");
	await broker.dynsec("createClient", "backend", "-p", "backend-pass");
	await broker.dynsec("addClientRole", "backend", "backend");
	return broker;
}

async function backend(broker: Mosquitto, protocolVersion: 4 | 5 = 4) {
	const peer = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { username: "backend", password: "backend-pass", clientId: "backend", reconnectPeriod: 0, protocolVersion });
	const received: { topic: string; body: Record<string, any> }[] = [];
	peer.on("message", (topic, payload) => {
		if (payload.length) received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, any> });
	});
	await peer.subscribeAsync(`${BASE}/#`, { qos: 1 });
	return { peer, received };
}

const auth = { mode: "password", username: CLIENT, password: "pass" };

for (const protocolVersion of [4, 5] as const) {
	const name = protocolVersion === 4 ? "3.1.1" : "5.0";

	test.serial(`Mosquitto (MQTT ${name}): a retained RESET is refused with a response and never restarts the device`, async (t) => {
		if (!(await requireMosquitto(t))) return t.pass();
		const broker = await dynsecBroker(true);
		const { peer, received } = await backend(broker);
		const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, protocolVersion, backoffMin: 1, backoffMax: 2 }, auth }));
		try {
			await peer.publishAsync(`${BASE}/commands`, JSON.stringify({ commandId: "ret-1", type: "RESET" }), { qos: 1, retain: true });
			const answer = () => received.find((m) => m.topic === `${BASE}/responses` && m.body.commandId === "ret-1");
			await until(() => answer() !== undefined, 10_000, "the refusal", d.log.records);
			await sleep(2_500);
			t.deepEqual(d.sim.system.restarts, []);
			t.is(d.sim.boots, 1);
			t.like(answer()?.body, { status: "error", error: "retained commands are not executed", type: "RESET" });
			t.like(d.log.events("command.rejected")[0], { commandId: "ret-1", retained: true });
			t.is(d.sim.device.supervisor.state, "ONLINE");
		}
		finally {
			await peer.publishAsync(`${BASE}/commands`, "", { qos: 1, retain: true });
			await peer.endAsync();
			d.sim.halt();
			await broker.stop();
		}
	});

	test.serial(`Mosquitto (MQTT ${name}): a refused subscription is reported and retried until the ACL grants it`, async (t) => {
		if (!(await requireMosquitto(t))) return t.pass();
		const broker = await dynsecBroker(false);
		const { peer, received } = await backend(broker);
		const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, protocolVersion, backoffMin: 1, backoffMax: 2 }, auth }));
		try {
			await until(() => d.log.events("mqtt.subscribe_failed").length >= 2, 10_000, "two refusals", d.log.records);
			const failed = d.log.events("mqtt.subscribe_failed")[0];
			t.like(failed, { level: "error", topic: `${BASE}/commands`, reasonCode: protocolVersion === 4 ? 0x80 : 0x87 });
			t.deepEqual(d.log.events("mqtt.subscribed").map((r) => r.topic), [`${BASE}/config`]);
			await broker.dynsec("addRoleACL", "device", "subscribePattern", `${BASE}/commands`, "allow", "5");
			await until(() => d.log.events("mqtt.subscribed").some((r) => r.topic === `${BASE}/commands`), 10_000, "the retried subscription", d.log.records);
			await peer.publishAsync(`${BASE}/commands`, JSON.stringify({ commandId: "sub-1", type: "SET_POWER", payload: { power: true } }), { qos: 1 });
			await until(() => received.some((m) => m.topic === `${BASE}/responses` && m.body.commandId === "sub-1"), 5_000, "the answer", d.log.records);
			t.is(d.sim.power.level, 1, "commands are obeyed once the subscription is granted");
			t.is(d.sim.device.supervisor.state, "ONLINE");
		}
		finally {
			await peer.endAsync();
			d.sim.halt();
			await broker.stop();
		}
	});
}

test.serial("Mosquitto: 100 commands in a burst are each answered or counted; the device stays online and keeps publishing", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	const broker = await dynsecBroker(true);
	const { peer, received } = await backend(broker);
	const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, backoffMin: 1, backoffMax: 2 }, auth, telemetry: { interval: 1 } }));
	try {
		await until(() => d.sim.device.supervisor.state === "ONLINE", 10_000, "online", d.log.records);
		await Promise.all(Array.from({ length: 100 }, (_, i) => peer.publishAsync(`${BASE}/commands`, JSON.stringify({ commandId: `m-${i}`, type: "SET_POWER", payload: { power: i % 2 === 0 } }), { qos: 1 })));
		const answers = () => received.filter((m) => m.topic === `${BASE}/responses` && String(m.body.commandId).startsWith("m-"));
		const lastDropped = () => received.filter((m) => m.topic === `${BASE}/status` && m.body.online).at(-1)?.body.status.dropped.responses as number | undefined;
		await until(() => d.log.events("command.received").length >= 100, 10_000, "the burst to arrive", d.log.records);
		// Once its answers have gone out, the device publishes a status counting the commands it could not answer.
		await until(() => answers().length + (lastDropped() ?? 0) === 100, 10_000, "every command answered or counted", d.log.records);
		t.log(`${answers().filter((m) => m.body.status === "ok").length} ok, ${answers().length} answered, ${lastDropped()} counted`);
		const ids = new Set(answers().map((m) => m.body.commandId));
		t.is(ids.size, answers().length, "one answer per command");
		for (const m of answers()) t.true(m.body.status === "ok" || m.body.error === "rate_limited", JSON.stringify(m.body));
		t.is(answers().filter((m) => m.body.status === "ok").length, d.log.events("command.completed").length);
		const before = received.filter((m) => m.topic === `${BASE}/telemetry`).length;
		await sleep(2_500);
		t.true(received.filter((m) => m.topic === `${BASE}/telemetry`).length > before, "telemetry continues");
		t.is(d.log.events("telemetry.dropped").length, 0);
		t.is(d.sim.device.supervisor.state, "ONLINE");
	}
	finally {
		await peer.endAsync();
		d.sim.halt();
		await broker.stop();
	}
});

test.serial("Mosquitto (MQTT 5.0): telemetry the broker refuses (PUBACK 0x87) is reported dropped and counted, never lost silently", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	const broker = await dynsecBroker(true);
	await broker.dynsec("addRoleACL", "device", "publishClientSend", `${BASE}/telemetry`, "deny", "10");
	const { peer, received } = await backend(broker);
	const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, protocolVersion: 5, backoffMin: 1, backoffMax: 2 }, auth, telemetry: { interval: 1 } }));
	try {
		await until(() => d.log.events("telemetry.dropped").length >= 2, 10_000, "refused readings", d.log.records);
		const dropped = d.log.events("telemetry.dropped");
		for (const r of dropped) t.like(r, { boot: 1, reason: "refused by the broker (reason code 0x87)" });
		t.is(received.filter((m) => m.topic === `${BASE}/telemetry`).length, 0);
		await peer.publishAsync(`${BASE}/config`, JSON.stringify({ config: { sampleRate: 5 } }), { qos: 1 });
		await until(() => received.some((m) => m.topic === `${BASE}/status` && m.body.status.dropped.telemetry >= 2), 5_000, "a status counting them", d.log.records);
		t.is(d.sim.device.supervisor.state, "ONLINE");
	}
	finally {
		await peer.endAsync();
		d.sim.halt();
		await broker.stop();
	}
});

test.serial("Mosquitto password file: refused credentials get the password fix (reload, dynsec), not the JWT one", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	const broker = await startMosquitto({ users: { [CLIENT]: "right" } });
	const d = device(config({ mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, backoffMin: 1, backoffMax: 2 }, auth: { mode: "password", username: CLIENT, password: "wrong" } }));
	try {
		await until(() => d.log.events("mqtt.connect_failed").length > 0, 10_000, "the refusal", d.log.records);
		const failure = d.log.events("mqtt.connect_failed")[0];
		t.is(failure.code, "credentials_refused");
		t.regex(String(failure.fix), /SIGHUP/);
		t.notRegex(String(failure.fix), /JWT|jwt/);
		t.is(d.log.events("mqtt.connect_failed").length, d.log.events("mqtt.connecting").length, "one report per attempt");
	}
	finally {
		d.sim.halt();
		await broker.stop();
	}
});

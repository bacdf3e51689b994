/*
 * The sensor application on the virtual clock: commands obeyed exactly once, remote config,
 * alerts, topic schemes, sensor failures and persistence.
 */

import test from "ava";
import { World, type ConfigPatch, type DeviceHandle } from "../world";

async function setup(patch: ConfigPatch = {}) {
	const world = await World.create();
	const d = world.addDevice({ mac: "24:6F:28:8E:A4:0C", config: World.config(patch) });
	await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
	await world.run(1_000);
	return { world, d };
}

function responses(world: World): Record<string, unknown>[] {
	return world.received.filter((m) => /\/(responses|response|command_response)$/.test(m.topic)).map((m) => JSON.parse(m.payload));
}

function lastStatus(world: World) {
	return JSON.parse(world.messages("/status").at(-1)!.payload);
}

const commands = "smarthome/home1/sensor_8EA40C/commands";
const configTopic = "smarthome/home1/sensor_8EA40C/config";

function setPower(id: string, power: boolean, extra: object = {}) {
	return { commandId: id, timestamp: "2026-11-22T08:00:00Z", type: "SET_POWER", payload: { power, brightness: 80 }, source: "USER", correlationId: `corr-${id}`, ...extra };
}

test("SET_POWER switches the output, answers with the ids, and shows in the next status", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(commands, setPower("cmd-1", true));
		await world.run(1_000);
		t.is(d.sim.power.level, 1);
		const [response] = responses(world);
		t.like(response, { commandId: "cmd-1", correlationId: "corr-cmd-1", status: "ok", type: "SET_POWER" });
		t.deepEqual(d.sim.device.power, { on: true, brightness: 80 });
		t.deepEqual(d.events("command.received").map((r) => r.type), ["SET_POWER"]);
		await world.inject(configTopic, { timestamp: "x", config: { powerSaving: false } });
		await world.run(1_000);
		t.deepEqual(lastStatus(world).status.power, { on: true, brightness: 80 });
	}
	finally {
		await world.close();
	}
});

test("a command redelivered with the same commandId is answered again but executed once", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(commands, setPower("dup-1", true));
		await world.run(500);
		await world.inject(commands, setPower("dup-1", false));
		await world.run(500);
		t.is(d.sim.power.level, 1, "the redelivery did not switch the output off");
		t.is(d.events("power.changed").length, 1);
		t.is(d.events("command.duplicate").length, 1);
		const answers = responses(world).filter((r) => r.commandId === "dup-1");
		t.is(answers.length, 2);
		t.deepEqual(answers[0], answers[1]);
	}
	finally {
		await world.close();
	}
});

test("bad commands are rejected with a reason and a response where one is possible; the device keeps running", async (t) => {
	const { world, d } = await setup();
	try {
		const cases: [string | object, RegExp, string | null][] = [
			["this is not json", /not valid JSON/, null],
			["[1,2,3]", /JSON object/, null],
			[{ commandId: "c1", type: "LAUNCH_ROCKET", payload: {} }, /unknown command type/, "c1"],
			[{ commandId: "c2", type: "SET_POWER", payload: { power: "yes" } }, /power true or false/, "c2"],
			[{ commandId: "c3", type: "SET_POWER", payload: { power: true, brightness: 300 } }, /brightness/, "c3"],
			[{ type: "SET_POWER", payload: { power: true } }, /missing commandId/, null],
			[{ commandId: "c4", payload: {} }, /missing command type/, "c4"],
			[{ commandId: 42, type: "RESET" }, /commandId must be a string/, null],
			[{ commandId: "c5", type: "rotate_credentials", payload: { password: "" } }, /password/, "c5"],
			[{ commandId: "c6", type: "SET_POWER", payload: "on" }, /payload must be an object/, "c6"],
			[{ commandId: "c7", type: "SET_POWER", payload: { power: true }, junk: "x".repeat(900) }, /over the 768-byte limit/, null],
		];
		for (const [payload] of cases) await world.inject(commands, payload);
		await world.run(2_000);
		const rejected = d.events("command.rejected");
		t.is(rejected.length, cases.length);
		cases.forEach(([, reason], i) => t.regex(String(rejected[i].reason), reason));
		const answered = responses(world).filter((r) => r.status === "error").map((r) => r.commandId);
		t.deepEqual(answered, cases.map((c) => c[2]).filter((id) => id !== null));
		t.is(d.sim.device.supervisor.state, "ONLINE");
		t.is(d.sim.power.level, 0);
		await world.inject(commands, setPower("after", true));
		await world.run(500);
		t.is(d.sim.power.level, 1, "still obeys good commands");
	}
	finally {
		await world.close();
	}
});

test("a message on a topic the device does not own is rejected, not obeyed", async (t) => {
	const { world, d } = await setup();
	try {
		d.sim.device.receive({ topic: "smarthome/home1/other-device/commands", payload: new TextEncoder().encode(JSON.stringify(setPower("x-1", true))), qos: 1, retain: false, dup: false });
		await world.run(500);
		t.is(d.sim.power.level, 0);
		t.regex(String(d.events("command.rejected")[0].reason), /does not own/);
		t.is(responses(world).length, 0);
	}
	finally {
		await world.close();
	}
});

test("rotate_credentials is refused with a reason on a JWT device", async (t) => {
	const { world } = await setup();
	try {
		await world.inject(commands, { commandId: "rot-1", type: "rotate_credentials", payload: { password: "new-secret" } });
		await world.run(500);
		t.like(responses(world)[0], { commandId: "rot-1", status: "error" });
		t.regex(String(responses(world)[0].error), /auth.mode "password"/);
	}
	finally {
		await world.close();
	}
});

test("remote config is validated, applied live, persisted and echoed in the next status", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(configTopic, { timestamp: "2026-11-22T08:00:00Z", config: { sampleRate: 10, alertThresholds: { temperature: 30 }, ledConfig: { color: "x" } } });
		await world.run(1_000);
		t.like(d.events("config.applied")[0], { changed: ["sampleRate", "alertThresholds.temperature"], ignored: ["ledConfig"] });
		const status = lastStatus(world);
		t.is(status.status.config.sampleRate, 10);
		t.is(status.status.config.alertThresholds.temperature, 30);
		const from = world.time.now;
		await world.run(100_000);
		const count = world.messages("/telemetry").filter((m) => m.at > from).length;
		t.true(count >= 9 && count <= 11, `${count} readings in 100 s at 10 s`);
		t.is(JSON.parse(String(d.store.get("config"))).sampleRate, 10, "persisted");
		await world.inject(configTopic, { config: { sampleRate: 2 } });
		await world.inject(configTopic, { config: { sampleRate: "fast", powerSaving: true } });
		await world.inject(configTopic, { config: { mqttConfig: { qos: 2 } } });
		await world.inject(configTopic, "{not json");
		await world.inject(configTopic, { noConfig: true });
		await world.run(1_000);
		const refused = d.events("config.rejected").map((r) => String(r.reason));
		t.is(refused.length, 5);
		t.regex(refused[0], /sampleRate: must be from 5 to 3600/);
		t.regex(refused[1], /sampleRate: must be an integer/);
		t.regex(refused[2], /mqttConfig.qos/);
		t.is(d.sim.device.config.telemetry.interval, 10, "the previous configuration stays");
		t.false(d.sim.device.config.powerSaving, "nothing of a refused message is applied");
		const errors = responses(world).filter((r) => r.type === "config" && r.status === "error");
		t.is(errors.length, 5);
	}
	finally {
		await world.close();
	}
});

test("persisted remote config survives a restart; a corrupt one is ignored with a warning", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(configTopic, { config: { sampleRate: 15 } });
		await world.run(1_000);
		await world.inject(commands, { commandId: "boot-1", type: "RESET" });
		await world.runUntil(() => d.sim.boots === 2 && d.sim.device.supervisor.state === "ONLINE", 60_000);
		t.is(d.sim.device.config.telemetry.interval, 15);
		t.is(d.events("device.boot").at(-1)!.rebootReason, "command RESET (boot-1)");
		t.like(responses(world).find((r) => r.commandId === "boot-1"), { status: "ok" });
		d.store.set("config", "{broken json");
		d.store.set("power", JSON.stringify({ on: "maybe" }));
		d.sim.halt();
		d.sim.boot();
		await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
		t.is(d.sim.device.config.telemetry.interval, 30, "defaults after a corrupt value");
		const warnings = d.events("store.warning").map((r) => r.key);
		t.true(warnings.includes("config") && warnings.includes("power"));
	}
	finally {
		await world.close();
	}
});

test("a store from a newer schema is ignored, not misread", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ boot: false });
		d.store.set("schema", 99);
		d.store.set("config", JSON.stringify({ sampleRate: 5 }));
		d.sim.boot();
		await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
		t.is(d.sim.device.config.telemetry.interval, 30);
		t.regex(String(d.events("store.warning")[0].reason), /schema version 99/);
	}
	finally {
		await world.close();
	}
});

async function alertsWorld(): Promise<{ world: World; d: DeviceHandle; setTemperature(v: number): void }> {
	const world = await World.create();
	const d = world.addDevice({ config: World.config({ telemetry: { interval: 5 }, alerts: { temperature: 30, temperatureHysteresis: 1 } }) });
	let temperature = 25;
	d.sim.dht.reading = () => ({ temperature, humidity: 50 });
	await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
	return { world, d, setTemperature: (v) => { temperature = v; } };
}

test("alerts: raised once when crossing, cleared only below threshold minus hysteresis", async (t) => {
	const { world, d, setTemperature } = await alertsWorld();
	try {
		setTemperature(31);
		await world.run(30_000);
		t.is(world.messages("/alert").length, 1, "raised once, not on every reading");
		t.like(JSON.parse(world.messages("/alert")[0].payload), { metric: "temperature", value: 31, threshold: 30, state: "raised" });
		setTemperature(29.5);
		await world.run(30_000);
		t.is(world.messages("/alert_cleared").length, 0, "29.5 is within the hysteresis");
		setTemperature(28.5);
		await world.run(10_000);
		t.is(world.messages("/alert_cleared").length, 1);
		setTemperature(31);
		await world.run(10_000);
		t.is(world.messages("/alert").length, 2, "a new crossing raises again");
		t.is(d.events("alert.raised").length, 2);
	}
	finally {
		await world.close();
	}
});

test("alert_reset clears an active alert at once; it does not rise again until the value has recovered", async (t) => {
	const { world, setTemperature } = await alertsWorld();
	try {
		setTemperature(32);
		await world.run(10_000);
		await world.inject("smarthome/home1/sensor_" + world.devices[0].sim.device.clientId.slice(7) + "/commands", { commandId: "ar-1", type: "alert_reset" });
		await world.run(30_000);
		const cleared = world.messages("/alert_cleared").map((m) => JSON.parse(m.payload));
		t.is(cleared.length, 1);
		t.is(cleared[0].reason, "reset");
		t.is(world.messages("/alert").length, 1, "still hot, but acknowledged");
		setTemperature(25);
		await world.run(10_000);
		setTemperature(33);
		await world.run(10_000);
		t.is(world.messages("/alert").length, 2);
	}
	finally {
		await world.close();
	}
});

test("a failed sensor read publishes nulls with its status, never the previous value", async (t) => {
	const { world, d } = await setup({ telemetry: { interval: 10 } });
	try {
		d.sim.dht.faults = { noResponse: 1 };
		await world.run(30_000);
		const failed = world.messages("/telemetry").map((m) => JSON.parse(m.payload)).filter((b) => b.metadata.sensorStatus !== "ok");
		t.true(failed.length >= 2);
		for (const b of failed) {
			t.deepEqual(b.sensors, { temperature: null, humidity: null });
			t.is(b.metadata.sensorStatus, "no_response");
		}
		t.true(d.events("sensor.failed").length >= 2);
		d.sim.dht.faults = {};
		await world.run(20_000);
		t.is(JSON.parse(world.messages("/telemetry").at(-1)!.payload).metadata.sensorStatus, "ok");
	}
	finally {
		await world.close();
	}
});

test("tenant scheme: status, alerts and command/<type> topics", async (t) => {
	const { world, d } = await setup({ topics: { scheme: "tenant" }, device: { tenantId: "acme" } });
	try {
		const base = "tenant/acme/device/sensor_8EA40C";
		t.true(world.messages("/status").every((m) => m.topic === `${base}/status`));
		t.deepEqual(d.events("mqtt.subscribed").map((r) => r.topic), [`${base}/command/#`, `${base}/config`]);
		await world.inject(`${base}/command/SET_POWER`, { commandId: "t-1", payload: { power: true } });
		await world.inject(`${base}/command/reboot`, "");
		await world.run(500);
		t.is(d.sim.power.level, 1);
		t.like(JSON.parse(world.messages("/command_response")[0].payload), { commandId: "t-1", status: "ok" });
		await world.runUntil(() => d.sim.boots === 2, 10_000);
		t.regex(String(d.events("device.boot").at(-1)!.rebootReason), /reboot/);
	}
	finally {
		await world.close();
	}
});

test("sensor scheme: plain values on {clientId}/temperature, ON/OFF on light/control", async (t) => {
	const { world, d } = await setup({ topics: { scheme: "sensor" } });
	try {
		const temperature = world.received.find((m) => m.topic === "sensor_8EA40C/temperature");
		t.truthy(temperature);
		t.regex(temperature!.payload, /^-?\d+\.\d$/);
		t.truthy(world.received.find((m) => m.topic === "sensor_8EA40C/humidity"));
		await world.inject("sensor_8EA40C/light/control", "ON");
		await world.run(200);
		t.is(d.sim.power.level, 1);
		await world.inject("sensor_8EA40C/light/control", "off");
		await world.run(200);
		t.is(d.sim.power.level, 0);
		await world.inject("sensor_8EA40C/light/control", "DIM");
		await world.run(200);
		t.regex(String(d.events("command.rejected").at(-1)!.reason), /ON or OFF/);
	}
	finally {
		await world.close();
	}
});

test("every message stays within the MQTT buffer, and telemetry reports its size", async (t) => {
	const { world, d } = await setup();
	try {
		await world.run(120_000);
		for (const m of world.received) t.true(m.topic.length + m.payload.length + 10 < 1024, `${m.topic}: ${m.payload.length} bytes`);
		const published = d.events("telemetry.published");
		t.true(published.length >= 4);
		for (const r of published) t.true(typeof r.bytes === "number" && (r.bytes as number) > 100 && (r.bytes as number) < 1024);
	}
	finally {
		await world.close();
	}
});

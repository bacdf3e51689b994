/*
 * Issue 9's application rules through the whole device, on the virtual clock against aedes:
 * a command runs at most once (across restarts too) and never from a retained message; nothing
 * queued is lost silently on a restart the firmware decides; telemetry carries (boot, seq);
 * answers have their own bounded place and never evict telemetry; keys from outside are looked up
 * as own properties only; a refused subscription is reported and retried.
 */

import test from "ava";
import type { LogRecord } from "../../src/ports";
import { BROKER_HOST, BROKER_PORT, World, telemetryKeys, type ConfigPatch, type DeviceHandle } from "../world";

const MAC = "24:6F:28:8E:A4:0C";
const BASE = "smarthome/home1/sensor_8EA40C";
const COMMANDS = `${BASE}/commands`;
const CONFIG = `${BASE}/config`;

function online(d: DeviceHandle): boolean {
	return d.sim.device.supervisor.state === "ONLINE";
}

async function setup(patch: ConfigPatch = {}) {
	const world = await World.create();
	const d = world.addDevice({ mac: MAC, config: World.config(patch) });
	await world.runUntil(() => online(d), 60_000);
	await world.run(1_000);
	return { world, d };
}

function responses(world: World): Record<string, unknown>[] {
	return world.messages("/responses").map((m) => JSON.parse(m.payload) as Record<string, unknown>);
}

function statuses(world: World): Record<string, any>[] {
	return world.messages("/status").map((m) => JSON.parse(m.payload) as Record<string, any>);
}

function bytes(value: unknown): Uint8Array {
	return new TextEncoder().encode(typeof value === "string" ? value : JSON.stringify(value));
}

/** Hands a message to the device as the broker would (also while it is offline). */
function deliver(d: DeviceHandle, topic: string, body: unknown, retain = false): void {
	d.sim.device.receive({ topic, payload: bytes(body), qos: 1, retain, dup: false });
}

function setPower(id: string, power: boolean) {
	return { commandId: id, type: "SET_POWER", payload: { power, brightness: 50 } };
}

/** Records logged by the boot that starts at the n-th device.boot (1-based). */
function bootRecords(d: DeviceHandle, n: number): LogRecord[] {
	const starts = d.log.records.flatMap((r, i) => (r.event === "device.boot" ? [i] : []));
	return d.log.records.slice(starts[n - 1], starts[n] ?? d.log.records.length);
}

/** Every (boot, seq) a boot produced must have reached the broker or have been reported dropped. */
function unaccounted(world: World, d: DeviceHandle, boot: number): number[] {
	const received = new Set(telemetryKeys(world).filter((k) => k.boot === boot).map((k) => k.seq));
	const dropped = new Set(d.log.records.filter((r) => r.event === "telemetry.dropped" && r.boot === boot).map((r) => r.seq as number));
	const max = Math.max(0, ...received, ...dropped);
	return Array.from({ length: max }, (_, i) => i + 1).filter((s) => !received.has(s) && !dropped.has(s));
}

/* Rule 3: at most once, never retained ---------------------------------------------------------- */

test("a retained RESET on the command topic is refused with a response and never restarts the device, on any connection", async (t) => {
	const world = await World.create();
	try {
		await world.inject(COMMANDS, { commandId: "ret-1", type: "RESET" }, 1, true);
		const d = world.addDevice({ mac: MAC });
		await world.runUntil(() => online(d), 60_000);
		await world.run(20_000);
		world.network.closeAll(); // a broker restart: the retained command comes again with the new subscription
		await world.run(60_000);
		t.true(online(d));
		t.deepEqual(d.sim.system.restarts, [], "never restarted");
		t.is(d.sim.boots, 1);
		const rejected = d.events("command.rejected");
		t.true(rejected.length >= 2, "refused on each connection");
		for (const r of rejected) t.like(r, { commandId: "ret-1", retained: true, reason: "retained commands are not executed" });
		const answers = responses(world).filter((r) => r.commandId === "ret-1");
		t.true(answers.length >= 2);
		for (const a of answers) t.like(a, { status: "error", error: "retained commands are not executed", type: "RESET" });
		t.is(d.events("command.completed").length, 0);
		// The same command sent live (not retained) is obeyed.
		await world.inject(COMMANDS, setPower("live-1", true));
		await world.run(1_000);
		t.is(d.sim.power.level, 1);
	}
	finally {
		await world.close();
	}
});

test("a retained ON on light/control is refused, not obeyed", async (t) => {
	const world = await World.create();
	try {
		await world.inject("sensor_8EA40C/light/control", "ON", 1, true);
		const d = world.addDevice({ mac: MAC, config: World.config({ topics: { scheme: "sensor" } }) });
		await world.runUntil(() => online(d), 60_000);
		await world.run(2_000);
		t.is(d.sim.power.level, 0);
		t.like(d.events("command.rejected")[0], { reason: "retained commands are not executed" });
	}
	finally {
		await world.close();
	}
});

test("a command executed before a restart is not executed again when it is redelivered after it", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(COMMANDS, setPower("once-1", true));
		await world.run(1_000);
		await world.inject(COMMANDS, { commandId: "boot-1", type: "RESET" });
		await world.runUntil(() => d.sim.boots === 2 && online(d), 60_000);
		await world.run(1_000);
		// A QoS 1 redelivery of both after the reboot (same commandId).
		await world.inject(COMMANDS, setPower("once-1", false));
		await world.inject(COMMANDS, { commandId: "boot-1", type: "RESET" });
		await world.run(10_000);
		t.is(d.sim.boots, 2, "the RESET did not run twice");
		t.deepEqual(d.sim.system.restarts, ["command RESET (boot-1)"]);
		t.is(d.sim.power.level, 1, "the SET_POWER did not run twice (power stays on)");
		t.is(d.events("power.changed").length, 1);
		const duplicates = bootRecords(d, 2).filter((r) => r.event === "command.duplicate").map((r) => r.commandId);
		t.deepEqual(duplicates, ["once-1", "boot-1"]);
		const again = responses(world).filter((r) => r.commandId === "once-1");
		t.is(again.length, 2, "answered again");
		t.like(again[1], { status: "ok", result: { duplicate: true } });
		const log = d.store.get("cmdLog");
		t.is(typeof log, "string");
		t.true(String(log).length <= 600, "one compact key");
	}
	finally {
		await world.close();
	}
});

/* Rule 4: planned restarts keep the queue; the watchdog does not restart when an attempt can help --- */

test.serial("broker down 12 minutes: the watchdog tries once more instead of restarting; every reading arrives or is reported", async (t) => {
	const { world, d } = await setup();
	try {
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(12 * 60_000);
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		// The next backoff attempt lies past the 15-minute watchdog.
		await world.runUntil(() => online(d), 10 * 60_000);
		await world.run(5_000);
		t.true(online(d));
		t.deepEqual(d.sim.system.restarts, [], "no restart: the broker was back");
		t.is(d.sim.boots, 1);
		t.true(world.time.now < 16 * 60_000, `online again at ${world.time.now} ms: the watchdog made the attempt, not the backoff`);
		t.deepEqual(unaccounted(world, d, 1), [], "each reading reached the broker or was reported dropped");
	}
	finally {
		await world.close();
	}
});

test.serial("a watchdog restart keeps what was queued: the readings sampled before it arrive after the reboot", async (t) => {
	const { world, d } = await setup();
	try {
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.runUntil(() => d.sim.boots === 2, 20 * 60_000);
		t.deepEqual(d.sim.system.restarts, ["watchdog: no MQTT connection for 15 min"]);
		const before = bootRecords(d, 1);
		t.true(before.some((r) => r.event === "mqtt.connect_failed" && r.uptimeMs >= 15 * 60_000), "an attempt failed after the watchdog fired");
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => online(d), 10 * 60_000);
		await world.run(5_000);
		const fromFirstBoot = telemetryKeys(world).filter((k) => k.boot === 1);
		t.true(fromFirstBoot.length >= 20, `${fromFirstBoot.length} readings of the first boot reached the broker`);
		t.deepEqual(unaccounted(world, d, 1), [], "nothing of the first boot lost silently");
		t.deepEqual(unaccounted(world, d, 2), []);
		t.like(bootRecords(d, 2).find((r) => r.event === "queue.restored"), { telemetry: 20 });
		const status = statuses(world).filter((s) => s.online).at(-1)!;
		t.is(status.status.rebootReason, "watchdog: no MQTT connection for 15 min");
	}
	finally {
		await world.close();
	}
});

test("RESET keeps what is queued: readings and the RESET's own answer arrive after the restart", async (t) => {
	const { world, d } = await setup();
	try {
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(150_000);
		const queued = d.events("telemetry.queued").length;
		t.true(queued >= 4);
		deliver(d, COMMANDS, { commandId: "r-offline", type: "RESET" });
		await world.runUntil(() => d.sim.boots === 2, 10_000);
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => online(d), 120_000);
		await world.run(3_000);
		t.like(responses(world).find((r) => r.commandId === "r-offline"), { status: "ok", type: "RESET" });
		t.deepEqual(unaccounted(world, d, 1), []);
		t.true(telemetryKeys(world).filter((k) => k.boot === 1).length >= queued + 1);
		t.is(d.events("telemetry.dropped").length, 0);
	}
	finally {
		await world.close();
	}
});

/* Rule 5: (boot, seq) ------------------------------------------------------------------------------ */

test("telemetry, heartbeat and status carry the boot counter beside seq; seq restarts at 1 under the next boot", async (t) => {
	const { world, d } = await setup();
	try {
		await world.run(65_000);
		await world.inject(COMMANDS, { commandId: "b-1", type: "RESET" });
		await world.runUntil(() => d.sim.boots === 2 && online(d), 60_000);
		await world.run(65_000);
		const keys = telemetryKeys(world);
		const first = keys.filter((k) => k.boot === 1).map((k) => k.seq);
		const second = keys.filter((k) => k.boot === 2).map((k) => k.seq);
		t.deepEqual(first, first.map((_, i) => i + 1));
		t.deepEqual(second, second.map((_, i) => i + 1));
		t.true(first.length >= 3 && second.length >= 3);
		t.deepEqual(new Set(keys.map((k) => `${k.boot}/${k.seq}`)).size, keys.length, "(boot, seq) is unique");
		const body = JSON.parse(world.messages("/telemetry")[0].payload);
		t.deepEqual(Object.keys(body).slice(0, 4), ["timestamp", "deviceId", "boot", "seq"]);
		const heartbeats = world.messages("/heartbeat").map((m) => JSON.parse(m.payload).boot);
		t.true(heartbeats.includes(1) && heartbeats.includes(2));
		t.deepEqual(statuses(world).filter((s) => s.online).map((s) => s.status.boot).filter((b, i, a) => a.indexOf(b) === i), [1, 2]);
		t.is(d.events("device.boot").at(-1)!.boots, 2);
	}
	finally {
		await world.close();
	}
});

/* Rule 6: answers have their own place -------------------------------------------------------------- */

test("a flood of commands while readings wait evicts no reading; every command is answered or counted", async (t) => {
	const { world, d } = await setup();
	try {
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(300_000);
		const waiting = d.sim.device.supervisor.outboxSize;
		t.true(waiting >= 9, `${waiting} readings waiting`);
		for (let i = 0; i < 60; i++) deliver(d, COMMANDS, setPower(`f-${i}`, i % 2 === 0));
		t.is(d.events("telemetry.dropped").length, 0, "no reading evicted by answers");
		t.is(d.sim.device.supervisor.outboxSize, waiting, "the readings are all still queued");
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => online(d), 400_000);
		await world.run(5_000);
		const answers = responses(world).filter((r) => String(r.commandId).startsWith("f-"));
		const ok = answers.filter((r) => r.status === "ok");
		const limited = answers.filter((r) => r.status === "error");
		for (const r of limited) t.is(r.error, "rate_limited");
		t.is(ok.length, d.events("command.completed").length, "an ok answer for each command executed");
		t.true(ok.length >= 10 && limited.length >= 1, `${ok.length} ok, ${limited.length} rate_limited`);
		const status = statuses(world).filter((s) => s.online).at(-1)!;
		t.is(answers.length + status.status.dropped.responses, 60, "answered, or counted as unanswered in the status");
		t.deepEqual(unaccounted(world, d, 1), []);
		t.is(d.events("telemetry.dropped").length, 0);
	}
	finally {
		await world.close();
	}
});

test("100 commands in a burst through the broker: each is answered or counted, the device stays online, telemetry continues", async (t) => {
	const { world, d } = await setup({ telemetry: { interval: 10 } });
	try {
		await Promise.all(Array.from({ length: 100 }, (_, i) => world.inject(COMMANDS, setPower(`b-${i}`, i % 2 === 0))));
		await world.run(30_000);
		const answers = responses(world).filter((r) => String(r.commandId).startsWith("b-"));
		for (const r of answers) t.true(r.status === "ok" || r.error === "rate_limited", JSON.stringify(r));
		const ids = new Set(answers.map((r) => r.commandId));
		t.is(ids.size, answers.length, "one answer per command");
		const status = statuses(world).filter((s) => s.online).at(-1)!;
		t.is(answers.length + status.status.dropped.responses, 100);
		t.true(online(d));
		t.is(d.events("telemetry.dropped").length, 0);
		t.deepEqual(unaccounted(world, d, 1), []);
		const after = world.messages("/telemetry").filter((m) => m.at > 20_000);
		t.true(after.length >= 1, "telemetry continues after the flood");
	}
	finally {
		await world.close();
	}
});

/* Rule 7: own properties only ------------------------------------------------------------------------ */

test("remote config: Object.prototype names are never settings; changed lists only values that changed; nothing is stored for no change", async (t) => {
	const { world, d } = await setup();
	try {
		await world.inject(CONFIG, '{"config":{"constructor":123,"sampleRate":30}}');
		await world.run(500);
		t.like(d.events("config.applied")[0], { changed: [], ignored: ["constructor"] });
		t.is(d.store.get("config"), undefined, "no change: nothing written to flash");
		for (const body of ['{"config":{"mqttConfig":{"__proto__":{"keepAlive":10}}}}', '{"config":{"alertThresholds":{"constructor":1}}}', '{"config":{"alertThresholds":{"hasOwnProperty":1}}}']) {
			await world.inject(CONFIG, body);
		}
		await world.run(500);
		const refused = d.events("config.rejected").map((r) => String(r.reason));
		t.is(refused.length, 3);
		t.regex(refused[0], /mqttConfig.__proto__: unknown setting/);
		t.regex(refused[1], /alertThresholds.constructor: unknown setting/);
		t.regex(refused[2], /alertThresholds.hasOwnProperty: unknown setting/);
		t.is(d.sim.device.config.mqtt.keepAlive, 60);
		t.is(d.store.get("config"), undefined);
		await world.inject(CONFIG, { config: { sampleRate: 30, powerSaving: true } });
		await world.run(500);
		t.deepEqual(d.events("config.applied").at(-1)!.changed, ["powerSaving"]);
		t.like(responses(world).filter((r) => r.type === "config").at(-1), { status: "ok", result: { changed: ["powerSaving"] } });
		t.is(JSON.parse(String(d.store.get("config"))).powerSaving, true);
	}
	finally {
		await world.close();
	}
});

/* Rule 8: a refused subscription is reported and retried ---------------------------------------------- */

test("a SUBACK failure is an error event and the subscription is retried with backoff until the broker grants it", async (t) => {
	const world = await World.create();
	try {
		let refusals = 3;
		world.broker.aedes.authorizeSubscribe = (_client, subscription, callback) => {
			if (subscription.topic.endsWith("/commands") && refusals > 0) {
				refusals--;
				callback(null, null);
			}
			else callback(null, subscription);
		};
		const d = world.addDevice({ mac: MAC });
		await world.runUntil(() => online(d), 60_000);
		await world.run(120_000);
		const failed = d.events("mqtt.subscribe_failed");
		t.is(failed.length, 3);
		for (const f of failed) t.like(f, { level: "error", topic: COMMANDS, reasonCode: 0x80 });
		const retries = failed.map((f) => f.retryMs as number);
		t.true(retries[0] >= 10_000 && retries[1] >= 20_000 && retries[2] >= 40_000, `retries after ${retries.join(", ")} ms`);
		t.deepEqual(d.events("mqtt.subscribed").map((r) => r.topic).sort(), [CONFIG, COMMANDS].sort());
		t.is(d.events("mqtt.warning").filter((r) => /SUBSCRIBE/.test(String(r.message))).length, 0, "one report per refusal, not two");
		await world.inject(COMMANDS, setPower("after-suback", true));
		await world.run(1_000);
		t.is(d.sim.power.level, 1, "no longer deaf to commands");
		t.true(online(d));
	}
	finally {
		await world.close();
	}
});

/* The same classes elsewhere ------------------------------------------------------------------------- */

test("readings never push an alert out of the outbox: the alert raised offline arrives after the outage", async (t) => {
	const { world, d } = await setup({ mqtt: { outboxSize: 5 }, telemetry: { interval: 5 }, alerts: { temperature: 30 } });
	try {
		let temperature = 25;
		d.sim.dht.reading = () => ({ temperature, humidity: 50 });
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(12_000);
		temperature = 31;
		await world.run(6_000);
		t.is(d.events("alert.raised").length, 1);
		await world.run(60_000);
		t.true(d.events("telemetry.dropped").length >= 8, "readings were dropped to make room");
		t.is(d.events("mqtt.dropped").length, 0, "the alert was not");
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => online(d), 400_000);
		await world.run(2_000);
		t.like(JSON.parse(world.messages("/alert")[0]?.payload ?? "{}"), { metric: "temperature", value: 31, state: "raised" });
		t.deepEqual(unaccounted(world, d, 1), []);
		t.is(statuses(world).filter((s) => s.online).at(-1)!.status.dropped.telemetry, d.events("telemetry.dropped").length, "the status counts every reading dropped");
	}
	finally {
		await world.close();
	}
});

test("flash stays quiet: six hours of telemetry, heartbeats, token refreshes and a config that changes nothing write nothing", async (t) => {
	const { world, d } = await setup();
	try {
		const writes: string[] = [];
		const set = d.store.set.bind(d.store);
		d.store.set = (key, value) => {
			writes.push(key);
			set(key, value);
		};
		await world.inject(CONFIG, { config: { sampleRate: 30, powerSaving: false } });
		await world.run(6 * 3_600_000);
		t.true(world.messages("/telemetry").length > 700);
		t.true(d.events("jwt.refresh").length >= 10);
		t.deepEqual(writes, [], "no store write after boot");
		await world.inject(COMMANDS, setPower("w-1", true));
		await world.run(1_000);
		t.deepEqual(writes.sort(), ["cmdLog", "power"], "a command executed: its id, and the power it changed");
	}
	finally {
		await world.close();
	}
});

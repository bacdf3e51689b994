/*
 * Fault injection on the virtual clock: each case asserts the recovery timeline and that nothing
 * the design promises to keep (QoS 1 telemetry, within the outbox) is lost.
 */

import test from "ava";
import type { LogRecord } from "../../src/ports";
import { BROKER_HOST, BROKER_PORT, World, telemetrySeqs, type DeviceHandle } from "../world";

const ENDPOINT = `${BROKER_HOST}:${BROKER_PORT}`;

function online(d: DeviceHandle): boolean {
	return d.sim.device.supervisor.state === "ONLINE";
}

/** Virtual times (world) of MQTT connection attempts by one device. */
function attemptTimes(d: DeviceHandle, since = 0): number[] {
	return d.events("mqtt.connecting").map((r) => worldAt(d, r)).filter((at) => at >= since);
}

/** The world time of a record: boot offsets are zero in these tests (devices boot at world time 0). */
function worldAt(_d: DeviceHandle, r: LogRecord): number {
	return r.uptimeMs;
}

function gaps(times: number[]): number[] {
	return times.slice(1).map((t, i) => t - times[i]);
}

async function onlineWorld(patch: Parameters<typeof World.config>[0] = {}) {
	const world = await World.create();
	const d = world.addDevice({ config: World.config(patch) });
	await world.runUntil(() => online(d), 60_000);
	return { world, d };
}

test.serial("broker down for 10 minutes: backoff x2 from 10 s with jitter, then back, telemetry kept", async (t) => {
	const { world, d } = await onlineWorld({ mqtt: { outboxSize: 40 } });
	try {
		await world.run(65_000);
		const downAt = world.time.now;
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(600_000);
		t.false(online(d));
		const attempts = attemptTimes(d, downAt);
		const intervals = gaps([downAt, ...attempts]);
		t.true(intervals.length >= 5, `${intervals.length} attempts in 10 minutes`);
		for (const [i, gap] of intervals.entries()) {
			const base = Math.min(300_000, 10_000 * 2 ** i);
			t.true(gap >= base && gap <= base * 1.25 + 1, `attempt ${i + 1} after ${gap} ms (expected ${base}..${base * 1.25})`);
		}
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		const upAt = world.time.now;
		await world.runUntil(() => online(d), 400_000);
		t.true(online(d));
		t.true(world.time.now - upAt <= 300_000 * 1.25, "reconnected within the current backoff delay");
		await world.run(5_000);
		const seqs = telemetrySeqs(world);
		const max = Math.max(...seqs);
		const missing = Array.from({ length: max }, (_, i) => i + 1).filter((s) => !seqs.includes(s));
		t.deepEqual(missing, [], "every reading taken during the outage reached the broker (outbox 40)");
		t.is(d.events("telemetry.dropped").length, 0);
	}
	finally {
		await world.close();
	}
});

test.serial("outbox bounded: readings beyond it are dropped oldest first and reported", async (t) => {
	const { world, d } = await onlineWorld({ mqtt: { outboxSize: 5 } });
	try {
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(300_000);
		const dropped = d.events("telemetry.dropped");
		t.true(dropped.length >= 4, `${dropped.length} dropped`);
		t.is(d.sim.device.supervisor.outboxSize, 5);
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => online(d), 400_000);
		await world.run(2_000);
		const seqs = telemetrySeqs(world);
		const droppedSeqs = d.events("telemetry.dropped").map((r) => r.seq as number);
		for (const s of droppedSeqs) t.false(seqs.includes(s), `dropped seq ${s} never sent`);
		const queued = d.events("telemetry.queued").map((r) => r.seq as number);
		const kept = queued.filter((s) => !droppedSeqs.includes(s));
		t.true(Math.max(...droppedSeqs) < Math.min(...kept), "the oldest readings were dropped first");
		for (const s of kept) t.true(seqs.includes(s), `kept seq ${s} delivered`);
	}
	finally {
		await world.close();
	}
});

test.serial("WiFi flapping every 5 s for a minute: no MQTT attempts while WiFi is down, prompt recovery", async (t) => {
	const { world, d } = await onlineWorld();
	try {
		const start = world.time.now;
		const downWindows: [number, number][] = [];
		for (let i = 0; i < 6; i++) {
			const from = world.time.now;
			d.sim.wifi.setAccessPoint(false);
			await world.run(5_000);
			downWindows.push([from, world.time.now]);
			d.sim.wifi.setAccessPoint(true);
			await world.run(5_000);
		}
		const flappingEnd = world.time.now;
		await world.runUntil(() => online(d), 180_000);
		t.true(online(d));
		const attempts = world.network.stats.attempts.filter((a) => a.endpoint === ENDPOINT && a.at > start).map((a) => a.at);
		for (const at of attempts) for (const [from, to] of downWindows) t.false(at > from && at < to, `attempt at ${at} while WiFi was down (${from}..${to})`);
		for (const gap of gaps(attempts)) t.true(gap >= 10_000, `attempts ${gap} ms apart`);
		const wifiUp = d.events("wifi.connected").at(-1)!.uptimeMs;
		const connected = d.events("mqtt.connected").at(-1)!.uptimeMs;
		t.true(connected - wifiUp <= 10_000 + 500, `MQTT ${connected - wifiUp} ms after WiFi came back`);
		t.true(world.time.now - flappingEnd <= 130_000, "back online soon after the flapping ends");
		t.true(d.events("wifi.disconnected").length >= 3, "every drop and failed join is reported");
	}
	finally {
		await world.close();
	}
});

test.serial("SNTP unreachable for 5 minutes at boot: no token, no attempt, error LED; connects once time is back", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ boot: false });
		d.sim.sntp.failing = true;
		d.sim.boot();
		await world.run(300_000);
		t.is(d.events("jwt.minted").length, 0);
		t.is(world.network.stats.attempts.length, 0);
		t.true(d.events("time.failed").length >= 20, "kept retrying");
		t.is(d.sim.device.supervisor.state, "TIME");
		t.true(d.events("led.pattern").some((r) => r.pattern === "error"), "the LED shows the fault");
		d.sim.sntp.failing = false;
		const back = world.time.now;
		await world.runUntil(() => online(d), 60_000);
		t.true(world.time.now - back <= 12_000, `online ${world.time.now - back} ms after SNTP came back`);
	}
	finally {
		await world.close();
	}
});

test.serial("credentials refused 3 times then accepted: fresh token per attempt, backoff between", async (t) => {
	const world = await World.create();
	try {
		world.broker.refuseNext(3);
		const d = world.addDevice();
		await world.runUntil(() => online(d), 300_000);
		t.true(online(d));
		const failures = d.events("mqtt.connect_failed");
		t.is(failures.length, 3);
		for (const f of failures) {
			t.is(f.code, "credentials_refused");
			t.is(f.reasonCode, 5);
			t.regex(String(f.fix), /JWT/);
		}
		t.is(d.events("jwt.minted").length, 4, "one fresh token per attempt");
		const attempts = attemptTimes(d);
		const intervals = gaps(attempts);
		t.deepEqual(intervals.map((g, i) => g >= 10_000 * 2 ** i && g <= 10_000 * 2 ** i * 1.25 + 1), [true, true, true]);
		t.true(d.events("time.syncing").length >= 2, "a refusal re-checks the clock");
	}
	finally {
		await world.close();
	}
});

test.serial("half-open TCP connection: noticed within keepalive + socket timeout, QoS 1 telemetry resent", async (t) => {
	const { world, d } = await onlineWorld();
	try {
		await world.run(40_000);
		const lastTraffic = world.time.now;
		t.is(world.network.blackholeExisting(), 1);
		await world.runUntil(() => d.events("mqtt.disconnected").length > 0, 200_000);
		const down = d.events("mqtt.disconnected")[0];
		t.is(down.code, "keepalive_timeout");
		t.is(down.state, -4);
		t.true(world.time.now - lastTraffic <= 90_000 + 1000, `noticed after ${world.time.now - lastTraffic} ms`);
		await world.runUntil(() => online(d), 60_000);
		await world.run(3_000);
		const seqs = telemetrySeqs(world);
		const max = Math.max(...seqs);
		const missing = Array.from({ length: max }, (_, i) => i + 1).filter((s) => !seqs.includes(s));
		t.deepEqual(missing, [], "messages swallowed by the dead connection were sent again");
	}
	finally {
		await world.close();
	}
});

test.serial("clock jumps of -10 min and +10 min: a fresh token each time, never refused, telemetry continuous", async (t) => {
	// The broker checks tokens as EMQX does (exp > now, iat <= now): a device clock an hour ahead
	// could not connect at all, so the jumps here stay within what a valid token survives.
	const { world, d } = await onlineWorld({ time: { resync: 300 } });
	try {
		d.sim.sntp.skewMs = -600_000;
		await world.run(310_000);
		d.sim.sntp.skewMs = 0;
		await world.run(340_000);
		const synced = d.events("time.synced").filter((r) => r.jumpMs !== undefined);
		const jumps = synced.map((r) => Math.round((r.jumpMs as number) / 60_000));
		t.true(jumps.includes(-10) && jumps.includes(10), `jumps seen (minutes): ${jumps.join(", ")}`);
		const refreshes = d.events("jwt.refresh").filter((r) => r.reason === "clock moved");
		t.is(refreshes.length, 2);
		const mints = d.events("jwt.minted");
		t.is(mints.length, 3);
		t.true((mints[1].iat as number) < (mints[0].iat as number), "the token after the jump back carries the new time");
		t.true((mints[2].iat as number) - (mints[1].iat as number) > 600, "and so does the one after the jump forward");
		t.is(d.events("mqtt.connect_failed").length, 0);
		const telemetry = world.messages("/telemetry").map((m) => m.at);
		t.true(Math.max(...gaps(telemetry)) <= 31_000, "no gap in telemetry");
		const stamps = world.messages("/telemetry").map((m) => Date.parse(JSON.parse(m.payload).timestamp));
		t.true(stamps.some((s, i) => i > 0 && s - stamps[i - 1] < -500_000), "timestamps follow the device clock back");
		t.true(stamps.some((s, i) => i > 0 && s - stamps[i - 1] > 500_000), "and forward");
	}
	finally {
		await world.close();
	}
});

test.serial("wrong JWT secret: backoff grows to the 5-minute cap with jitter, never under the floor, error LED", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ config: World.config({ auth: { jwtSecret: "not-the-broker-secret" }, mqtt: { watchdog: 0 } }) });
		await world.run(3_600_000);
		t.false(online(d));
		const intervals = gaps(attemptTimes(d));
		t.true(intervals.length >= 12);
		t.true(intervals.every((g) => g >= 10_000), "never under the floor");
		t.true(intervals.every((g) => g <= 300_000 * 1.25 + 1), "never over cap + jitter");
		const capped = intervals.filter((g) => g >= 300_000);
		t.true(capped.length >= 5, "reaches the cap");
		t.true(new Set(capped).size > 1, "jitter spreads capped delays");
		t.true(d.events("mqtt.connect_failed").every((r) => r.code === "credentials_refused"));
		t.is(d.events("led.pattern").at(-1)!.pattern, "error");
		t.true(world.broker.stats.refused.every((r) => /signature/.test(r.reason)));
	}
	finally {
		await world.close();
	}
});

test.serial("three simulated hours with a 1-hour token against disconnect_after_expire: never kicked, no gap", async (t) => {
	const world = await World.create({ disconnectAfterExpire: true });
	try {
		const d = world.addDevice();
		await world.runUntil(() => online(d), 60_000);
		await world.run(3 * 3_600_000);
		t.deepEqual(world.broker.stats.expiredKicks, [], "never kicked for expiry");
		const refreshes = d.events("jwt.refresh");
		t.true(refreshes.length >= 5 && refreshes.length <= 6, `${refreshes.length} planned refreshes in 3 h`);
		t.is(d.events("mqtt.connect_failed").length, 0);
		t.true(d.events("mqtt.disconnected").every((r) => r.reason === "planned reconnect"));
		const times = world.messages("/telemetry").map((m) => m.at);
		t.true(times.length >= 355);
		t.true(Math.max(...gaps(times)) <= 31_000, `largest telemetry gap ${Math.max(...gaps(times))} ms`);
		const seqs = telemetrySeqs(world);
		t.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), "every reading, in order, once");
		for (const c of world.broker.stats.connections) t.true(c.exp! * 1000 > c.at, "each connection used an unexpired token");
	}
	finally {
		await world.close();
	}
});

test.serial("the embedded broker does close a connection whose token expires (the control for the test above)", async (t) => {
	const world = await World.create({ disconnectAfterExpire: true });
	try {
		// A device whose clock runs 59 minutes slow mints tokens that expire a minute after the
		// broker's now; its 30-minute refresh comes too late, so the broker acts first.
		const d = world.addDevice({ boot: false });
		d.sim.sntp.skewMs = -59 * 60_000;
		d.sim.boot();
		await world.runUntil(() => online(d), 60_000);
		const connectedAt = world.time.worldTime();
		await world.run(65_000);
		t.is(world.broker.stats.expiredKicks.length, 1, "kicked at exp");
		t.true(world.broker.stats.expiredKicks[0].at - connectedAt <= 61_000);
		t.true(d.events("mqtt.disconnected").some((r) => r.code === "connection_lost"));
		await world.runUntil(() => online(d), 60_000);
		t.true(online(d), "and the device comes back with a fresh token");
	}
	finally {
		await world.close();
	}
});

test.serial("100 devices after a broker restart: attempts spread over time, none closer than the floor", async (t) => {
	const world = await World.create();
	try {
		const fleet = Array.from({ length: 100 }, (_, i) => world.addDevice({ seed: 7 + i }));
		await world.runUntil(() => fleet.every(online), 120_000);
		t.true(fleet.every(online));
		await world.run(70_000);
		const restart = world.time.now;
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(15_000);
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => fleet.every(online), 600_000);
		t.true(fleet.every(online), "the whole fleet is back");
		const attempts = world.network.stats.attempts.filter((a) => a.at > restart).map((a) => a.at);
		const buckets = new Map<number, number>();
		for (const at of attempts) buckets.set(Math.floor(at / 250), (buckets.get(Math.floor(at / 250)) ?? 0) + 1);
		const worst = Math.max(...buckets.values());
		t.true(worst <= 25, `at most ${worst} of ${attempts.length} attempts in any 250 ms`);
		const firstRetries = fleet.map((d) => attemptTimes(d, restart)[0]);
		t.true(Math.max(...firstRetries) - Math.min(...firstRetries) >= 2000, "first retries spread over 2 s or more");
		for (const d of fleet) {
			for (const gap of gaps(attemptTimes(d))) t.true(gap >= 10_000, `device attempts ${gap} ms apart`);
		}
	}
	finally {
		await world.close();
	}
});

test.serial("watchdog: no MQTT connection for 15 minutes restarts the device; the reason is in the next status", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice();
		await world.runUntil(() => online(d), 60_000);
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		await world.run(15 * 60_000 + 5_000);
		t.deepEqual(d.sim.system.restarts, ["watchdog: no MQTT connection for 15 min"]);
		t.is(d.sim.boots, 2);
		world.network.setDown(BROKER_HOST, BROKER_PORT, false);
		await world.runUntil(() => online(d), 120_000);
		const status = world.messages("/status").map((m) => JSON.parse(m.payload)).filter((s) => s.online).at(-1);
		t.is(status.status.rebootReason, "watchdog: no MQTT connection for 15 min");
		t.is(d.events("device.boot").at(-1)!.rebootReason, "watchdog: no MQTT connection for 15 min");
	}
	finally {
		await world.close();
	}
});

test.serial("client id conflict: two devices with the same id keep taking over; both report it", async (t) => {
	const world = await World.create();
	try {
		const a = world.addDevice({ mac: "24:6F:28:11:22:33", config: World.config({ mqtt: { backoffMin: 2, backoffReset: 600 } }) });
		const b = world.addDevice({ mac: "AA:BB:CC:11:22:33", config: World.config({ mqtt: { backoffMin: 2, backoffReset: 600 } }) });
		await world.run(300_000);
		const conflicts = [...a.events("mqtt.client_id_conflict"), ...b.events("mqtt.client_id_conflict")];
		t.true(conflicts.length >= 1, "a conflict was diagnosed");
		t.is(conflicts[0].clientId, "sensor_112233");
		t.regex(String(conflicts[0].fix), /clientIdSuffix/);
	}
	finally {
		await world.close();
	}
});

test.serial("per-boot client id suffix: two boards sharing an id coexist", async (t) => {
	const world = await World.create();
	try {
		const config = World.config({ mqtt: { clientIdSuffix: "boot" } });
		const a = world.addDevice({ mac: "24:6F:28:11:22:33", config });
		await world.run(1_000);
		const b = world.addDevice({ mac: "AA:BB:CC:11:22:33", config, wifiJoinMs: 1733 });
		await world.run(300_000);
		t.true(online(a) && online(b));
		t.not(a.sim.device.supervisor.connectionId, b.sim.device.supervisor.connectionId);
		t.regex(a.sim.device.supervisor.connectionId, /^sensor_112233_\d+$/);
		t.is(a.events("mqtt.client_id_conflict").length + b.events("mqtt.client_id_conflict").length, 0);
		t.is(a.sim.device.topics.telemetry, b.sim.device.topics.telemetry, "topics keep the stable id");
	}
	finally {
		await world.close();
	}
});

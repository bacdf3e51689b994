/*
 * How the device's events read: every failure line says why, and the fix on its own line; JSON
 * records carry no made-up time before the clock is set.
 */

import test from "ava";
import fs from "node:fs";
import path from "node:path";
import { Logger, WALL_CLOCK_SET_AFTER, formatHuman, formatJson } from "../../src/events";
import type { LogRecord } from "../../src/ports";
import { VirtualTime } from "../adapters/clock";
import { BROKER_HOST, BROKER_PORT, World } from "../world";

const SRC = path.resolve(import.meta.dirname, "../../src");

/** Every event name the firmware logs as a warning or an error (src/, tests excluded). */
function failureEvents(): string[] {
	const names = new Set<string>();
	const walk = (dir: string) => {
		for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
			const file = path.join(dir, entry.name);
			if (entry.isDirectory()) {
				if (entry.name !== "test") walk(file);
			}
			else if (entry.name.endsWith(".ts")) {
				for (const m of fs.readFileSync(file, "utf8").matchAll(/\.(?:warn|error)\(\s*"([a-z_]+\.[a-z_]+)"/g)) names.add(m[1]);
			}
		}
	};
	walk(SRC);
	return [...names].sort();
}

const record = (fields: Partial<LogRecord> & { event: string }): LogRecord => ({ ts: "2026-11-22T08:00:00.000Z", uptimeMs: 1000, level: "error", ...fields });

test("the refused CONNECT of the issue: the reason the JSON event carries is on the ❌ line, the fix on the next", (t) => {
	const line = formatHuman(record({
		event: "mqtt.connect_failed",
		reason: "connection refused: not authorized (CONNACK 5, MQTT_CONNECT_UNAUTHORIZED)",
		code: "credentials_refused",
		reasonCode: 5,
		state: 5,
		fix: "check the user name and password",
		attempt: 1,
	}));
	t.is(line, "❌ MQTT connection failed: connection refused: not authorized (CONNACK 5, MQTT_CONNECT_UNAUTHORIZED) (state 5, credentials_refused)\n   ↳ fix: check the user name and password");
	const dropped = formatHuman(record({ event: "mqtt.disconnected", level: "warn", reason: "connection closed by the broker without DISCONNECT", code: "connection_lost", state: -3 }));
	t.is(dropped, "❌ MQTT disconnected: connection closed by the broker without DISCONNECT (state -3, connection_lost)");
});

test("every warning and error event in src/ shows its cause, and its fix on a line of its own", (t) => {
	const names = failureEvents();
	for (const expected of ["mqtt.connect_failed", "mqtt.disconnected", "mqtt.warning", "wifi.disconnected", "time.failed", "sensor.failed", "command.rejected", "config.rejected", "identity.unavailable", "watchdog.restart", "store.warning", "telemetry.dropped"]) {
		t.true(names.includes(expected), `found ${expected} among ${names.join(", ")}`);
	}
	for (const event of names) {
		for (const level of ["warn", "error"] as const) {
			const causes = { reason: `the reason of ${event}`, error: `the error of ${event}`, message: `the message of ${event}`, detail: `the detail of ${event}` };
			const [first, fix, ...rest] = formatHuman(record({ event, level, ...causes, fix: `the fix for ${event}`, code: "some_code", state: 5 })).split("\n");
			for (const [key, text] of Object.entries(causes)) t.true(first.includes(text), `${event} (${level}) shows its ${key}: ${first}`);
			t.is(fix, `   ↳ fix: the fix for ${event}`, event);
			t.deepEqual(rest, [], event);
			// Each cause alone, as the events carry them.
			for (const [key, text] of Object.entries(causes)) {
				const line = formatHuman(record({ event, level, [key]: text }));
				t.true(line.includes(text) && !line.includes("\n"), `${event} with only ${key}: ${line}`);
			}
		}
	}
});

test("an event without a line of its own still shows every field, its fix apart", (t) => {
	t.is(formatHuman(record({ event: "future.problem", level: "warn", reason: "something new", count: 3, fix: "upgrade" })), "⚠️  future.problem reason=something new count=3\n   ↳ fix: upgrade");
});

test("failures met by a real device read clearly: each warning and error names its cause", async (t) => {
	const world = await World.create();
	try {
		const wrong = world.addDevice({ config: World.config({ auth: { jwtSecret: "not-the-broker-secret" }, mqtt: { watchdog: 0 } }) });
		const right = world.addDevice();
		right.sim.dht.faults.noResponse = 1;
		await world.run(120_000);
		world.network.setDown(BROKER_HOST, BROKER_PORT, true);
		world.network.closeAll();
		right.sim.wifi.setAccessPoint(false);
		await world.run(60_000);
		right.sim.wifi.setAccessPoint(true);
		await world.run(60_000);
		const failures = [...wrong.log.records, ...right.log.records].filter((r) => r.level !== "info");
		const seen = new Set(failures.map((r) => r.event));
		for (const name of ["mqtt.connect_failed", "sensor.failed", "wifi.disconnected"]) t.true(seen.has(name), `saw ${name}: ${[...seen].join(", ")}`);
		for (const r of failures) {
			const line = formatHuman(r);
			const cause = [r.reason, r.error, r.message].find((v) => typeof v === "string" && v) as string | undefined;
			t.truthy(cause, `${r.event} carries a cause`);
			t.true(line.split("\n")[0].includes(cause!), `${r.event}: "${line}" shows "${cause}"`);
			if (r.fix) t.is(line.split("\n")[1], `   ↳ fix: ${String(r.fix)}`);
		}
	}
	finally {
		await world.close();
	}
});

test("ts is null until the wall clock has been set, then ISO 8601; JSON lines say null, not 1970", (t) => {
	const time = new VirtualTime();
	const clock = time.clock();
	const records: LogRecord[] = [];
	const log = new Logger(clock, (r) => records.push(r));
	time.advance(1500);
	log.info("device.boot", { firmwareVersion: "0.1.0" });
	clock.setWallTime(Date.UTC(2026, 10, 22, 8, 0, 1, 120));
	log.warn("time.failed", { error: "no response", retryMs: 10_000 });
	t.is(records[0].ts as string | null, null);
	t.is(records[0].uptimeMs, 1500);
	t.is(formatJson(records[0]), '{"ts":null,"uptimeMs":1500,"level":"info","event":"device.boot","firmwareVersion":"0.1.0"}');
	t.is(records[1].ts, "2026-11-22T08:00:01.120Z");
	clock.setWallTime(WALL_CLOCK_SET_AFTER);
	log.info("time.synced");
	t.is(records[2].ts as string | null, null, "a clock at or before 2024-01-01 counts as not set, as the firmware refuses such SNTP answers");
});

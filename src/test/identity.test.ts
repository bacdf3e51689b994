/*
 * Identity: the client id from the first real MAC the WiFi port gives, resolved once, reported
 * once (after device.boot), never made up; and how its events read on the serial monitor.
 */

import test from "ava";
import { Logger, formatHuman } from "../events";
import { Identity, type DeviceIdentity } from "../identity";
import type { Clock, LogRecord } from "../ports";

function harness(mac: string | undefined, prefix = "sensor_") {
	const wifi = { value: mac, reads: 0, mac(): string | undefined { this.reads++; return this.value; } };
	const records: LogRecord[] = [];
	const clock = { now: () => 0, wallTime: () => 0 } as unknown as Clock;
	const ready: DeviceIdentity[] = [];
	const identity = new Identity({ wifi, prefix, log: new Logger(clock, (r) => records.push(r)), onReady: (id) => ready.push(id) });
	return { wifi, records, ready, identity, events: (name: string) => records.filter((r) => r.event === name) };
}

test("no MAC yet: no identity and no id; the first real MAC fixes it, once", (t) => {
	const h = harness(undefined);
	t.is(h.wifi.reads, 1, "read at construction (the ssid= build has it at once)");
	t.is(h.identity.current, undefined);
	t.is(h.identity.resolve(), undefined);
	t.throws(() => h.identity.clientId, { message: /no client id yet: the WiFi driver has given no MAC address/ });
	t.deepEqual(h.ready, []);

	h.wifi.value = "24-6f-28-8e-a4-0c";
	const id = h.identity.resolve();
	t.deepEqual(id, { mac: "24:6F:28:8E:A4:0C", clientId: "sensor_8EA40C" });
	t.is(h.identity.clientId, "sensor_8EA40C");
	t.deepEqual(h.ready, [id!], "onReady once");

	h.wifi.value = "AA:BB:CC:DD:EE:FF";
	t.is(h.identity.resolve(), id, "fixed once: a later reading changes nothing");
	t.deepEqual(h.ready.length, 1);
});

test("placeholders and garbage are not a MAC", (t) => {
	for (const bad of ["", "  ", "00:00:00:00:00:00", "000000000000", "not a mac", "24:6F:28:8E:A4", "24:6F:28:8E:A4:0C:11"]) {
		const h = harness(bad);
		t.is(h.identity.resolve(), undefined, JSON.stringify(bad));
		t.deepEqual(h.ready, []);
	}
});

test("the MAC at construction gives the identity at once, with the configured prefix", (t) => {
	const h = harness("aabbccddeeff", "node-");
	t.deepEqual(h.identity.current, { mac: "AA:BB:CC:DD:EE:FF", clientId: "node-DDEEFF" });
	t.is(h.ready.length, 1);
	t.deepEqual(h.records, [], "nothing logged before start(): device.boot comes first");
	h.identity.start();
	t.like(h.events("identity.ready")[0], { level: "info", clientId: "node-DDEEFF", mac: "AA:BB:CC:DD:EE:FF" });
	h.identity.start();
	h.identity.resolve();
	t.is(h.events("identity.ready").length, 1, "reported once");
});

test("a MAC that comes after start() is reported when it is resolved", (t) => {
	const h = harness(undefined);
	h.identity.start();
	t.deepEqual(h.records, []);
	h.wifi.value = "24:6F:28:8E:A4:0C";
	h.identity.resolve();
	t.deepEqual(h.records.map((r) => r.event), ["identity.ready"]);
});

test("require(): identity.unavailable (error) while there is no MAC, nothing more once there is", (t) => {
	const h = harness(undefined);
	h.identity.start();
	t.is(h.identity.require(), undefined);
	t.is(h.identity.require(), undefined);
	const errors = h.events("identity.unavailable");
	t.is(errors.length, 2, "each refused attempt says so");
	t.like(errors[0], { level: "error", reason: "the WiFi driver has given no MAC address" });
	t.regex(String(errors[0].fix), /never connects under a made-up id/);
	h.wifi.value = "24:6F:28:8E:A4:0C";
	t.is(h.identity.require()?.clientId, "sensor_8EA40C");
	t.deepEqual(h.records.map((r) => r.event), ["identity.unavailable", "identity.unavailable", "identity.ready"]);
});

test("serial monitor lines: boot with and without the id, identity.ready, identity.unavailable", (t) => {
	const base = { ts: "1970-01-01T00:00:00.000Z", uptimeMs: 0, level: "info" as const, firmware: "esp32-sensor", firmwareVersion: "0.1.0", rebootReason: "power on" };
	t.is(formatHuman({ ...base, event: "device.boot", clientId: "sensor_8EA40C", mac: "24:6F:28:8E:A4:0C" }), "🚀 Booting esp32-sensor 0.1.0 as sensor_8EA40C (reboot reason: power on)");
	t.is(formatHuman({ ...base, event: "device.boot", clientId: null, mac: null }), "🚀 Booting esp32-sensor 0.1.0, client id once WiFi has started (reboot reason: power on)");
	t.is(formatHuman({ ts: base.ts, uptimeMs: 3, level: "info", event: "identity.ready", clientId: "sensor_8EA40C", mac: "24:6F:28:8E:A4:0C" }), "🆔 Client id: sensor_8EA40C (MAC 24:6F:28:8E:A4:0C)");
	const h = harness(undefined);
	h.identity.require();
	const line = formatHuman(h.events("identity.unavailable")[0]);
	t.true(line.startsWith("❌ No client id, not connecting to MQTT: the WiFi driver has given no MAC address\n   ↳ fix: the device retries"), line);
});

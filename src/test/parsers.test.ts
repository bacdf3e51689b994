/*
 * The command, config and settings parsers: unit cases and a seeded fuzz. No input may throw or
 * be accepted when it breaks a rule.
 */

import test from "ava";
import { CommandMemory, parseCommand, parseLight, MAX_COMMAND_BYTES } from "../commands";
import { clientIdFromMac, connectionClientId, normalizeMac } from "../identity";
import { defaultConfig, remoteView, validateConfig, validateRemoteConfig, brokerAddress } from "../settings";
import { classifyTopic, expandTemplate, planTopics } from "../topics";
import { mulberry32 } from "../../test-host/adapters/prng";

const enc = (v: unknown) => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

function prng(seed: number) {
	return mulberry32(seed);
}

test("commands: the documented forms parse", (t) => {
	const set = parseCommand(enc({ commandId: "a", type: "SET_POWER", payload: { power: true, brightness: 80 }, correlationId: "c" }));
	t.deepEqual(set, { ok: true, command: { type: "SET_POWER", power: true, brightness: 80 }, envelope: { commandId: "a", correlationId: "c", typeName: "SET_POWER" } });
	t.like(parseCommand(enc({ commandId: "b", type: "reboot" })), { ok: true, command: { type: "RESET" } });
	t.like(parseCommand(enc({ commandId: "b", type: "RESET" })), { ok: true, command: { type: "RESET" } });
	t.like(parseCommand(enc({ commandId: "b", type: "alert_reset" })), { ok: true, command: { type: "ALERT_RESET" } });
	t.like(parseCommand(enc({ commandId: "r", type: "rotate_credentials", payload: { password: "p", username: "u" } })), { ok: true, command: { type: "ROTATE_CREDENTIALS", password: "p", username: "u" } });
	t.like(parseCommand(new Uint8Array(0), "reboot"), { ok: true, command: { type: "RESET" } }, "tenant command/<type> with an empty body");
	t.like(parseLight(enc(" on ")), { ok: true, command: { type: "LIGHT", on: true } });
	t.like(parseLight(enc("OFF")), { ok: true, command: { type: "LIGHT", on: false } });
	t.false(parseLight(enc("TOGGLE")).ok);
	t.false(parseCommand(new Uint8Array([0xff, 0xfe, 0x7b])).ok, "invalid UTF-8");
	t.false(parseCommand(new Uint8Array(MAX_COMMAND_BYTES + 1).fill(0x20)).ok, "oversized");
});

test("fuzz: random and mutated command payloads never throw, and anything accepted is well formed", (t) => {
	const random = prng(42);
	const valid = [
		{ commandId: "id-1", type: "SET_POWER", payload: { power: false } },
		{ commandId: "id-2", type: "rotate_credentials", payload: { password: "secret" } },
		{ commandId: "id-3", type: "alert_reset", payload: {} },
	].map((v) => enc(v));
	let accepted = 0;
	for (let i = 0; i < 20_000; i++) {
		let bytes: Uint8Array;
		if (i % 3 === 0) bytes = Uint8Array.from({ length: Math.floor(random() * 120) }, () => Math.floor(random() * 256));
		else {
			bytes = valid[i % valid.length].slice();
			const flips = 1 + Math.floor(random() * 3);
			for (let f = 0; f < flips; f++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 128);
		}
		const parsed = parseCommand(bytes);
		if (!parsed.ok) {
			t.true(typeof parsed.reason === "string" && parsed.reason.length > 0);
			continue;
		}
		accepted++;
		const c = parsed.command;
		if (c.type === "SET_POWER") t.true(typeof c.power === "boolean" && (c.brightness === undefined || (Number.isInteger(c.brightness) && c.brightness >= 0 && c.brightness <= 100)));
		if (c.type === "ROTATE_CREDENTIALS") t.true(typeof c.password === "string" && c.password.length > 0);
		t.true(typeof parsed.envelope.commandId === "string");
	}
	t.true(accepted > 0, "mutations that stay valid are still accepted");
});

test("command memory keeps the last N ids", (t) => {
	const memory = new CommandMemory<number>(3);
	for (let i = 1; i <= 5; i++) memory.remember(`c${i}`, i);
	t.is(memory.get("c1"), undefined);
	t.is(memory.get("c3"), 3);
	t.is(memory.get("c5"), 5);
});

test("remote config: field by field, all or nothing, unknown fields ignored and reported", (t) => {
	const current = remoteView(defaultConfig());
	const ok = validateRemoteConfig({ sampleRate: 60, alertThresholds: { humidity: null }, mqttConfig: { keepAlive: 30 }, extra: 1 }, current);
	t.deepEqual(ok.changed, ["sampleRate", "alertThresholds.humidity", "mqttConfig.keepAlive"]);
	t.deepEqual(ok.ignored, ["extra"]);
	t.is(ok.value!.alertThresholds.humidity, null);
	t.is(ok.value!.alertThresholds.temperature, current.alertThresholds.temperature);
	for (const [bad, reason] of [
		[{ sampleRate: 4 }, /5 to 3600/],
		[{ sampleRate: 3601 }, /5 to 3600/],
		[{ sampleRate: 10.5 }, /integer/],
		[{ powerSaving: "true" }, /true or false/],
		[{ alertThresholds: { humidity: 101 } }, /0 to 100/],
		[{ alertThresholds: "high" }, /must be an object/],
		[{ mqttConfig: { keepAlive: 5 } }, /10 to 1200/],
		[{ alertThresholds: { pressure: 3 } }, /unknown setting/],
	] as const) {
		const result = validateRemoteConfig(bad, current);
		t.is(result.value, undefined);
		t.regex(result.errors.join(";"), reason);
	}
	t.regex(validateRemoteConfig([1], current).errors[0], /must be an object/);
});

test("fuzz: remote config validation never throws and never accepts out-of-range values", (t) => {
	const random = prng(7);
	const pick = () => [null, true, "x", -1, 0, 3, 5, 60, 3600, 1e9, 12.5, [], {}, { temperature: 40 }][Math.floor(random() * 14)];
	const current = remoteView(defaultConfig());
	for (let i = 0; i < 5_000; i++) {
		const input = { sampleRate: pick(), powerSaving: pick(), alertThresholds: random() < 0.5 ? pick() : { temperature: pick(), humidity: pick(), gas: pick() }, mqttConfig: random() < 0.5 ? pick() : { keepAlive: pick(), qos: pick() } };
		const result = validateRemoteConfig(input, current);
		if (!result.value) continue;
		const v = result.value;
		t.true(Number.isInteger(v.sampleRate) && v.sampleRate >= 5 && v.sampleRate <= 3600);
		t.is(typeof v.powerSaving, "boolean");
		t.true(v.mqttConfig.qos === 0 || v.mqttConfig.qos === 1);
		t.true(v.mqttConfig.keepAlive >= 10 && v.mqttConfig.keepAlive <= 1200);
	}
});

test("device configuration: defaults are valid, errors name the setting, cross-field rules hold", (t) => {
	t.deepEqual(validateConfig({}).errors, []);
	t.deepEqual(validateConfig({ mqtt: { keepAlive: -1 } }).errors, ["mqtt.keepAlive: must be from 0 to 65535 (got -1)"]);
	t.regex(validateConfig({ mqtt: { url: "http://x" } }).errors[0], /mqtt.url: must be mqtt:\/\/host:port/);
	t.regex(validateConfig({ auth: { jwtRefresh: 4000 } }).errors[0], /jwtRefresh: must be shorter than auth.jwtTtl/);
	t.regex(validateConfig({ mqtt: { url: "mqtts://b:8883" } }).errors[0], /mqtt.ca: required/);
	t.regex(validateConfig({ nope: 1 }).errors[0], /nope: unknown setting/);
	t.regex(validateConfig({ device: { homeId: "a/b" } }).errors[0], /topic level/);
	const coerced = validateConfig({ mqtt: { keepAlive: "30", cleanSession: "false", protocolVersion: "5" }, time: { servers: "a.pool, b.pool" } }, defaultConfig(), { coerceStrings: true });
	t.deepEqual(coerced.errors, []);
	t.is(coerced.value.mqtt.keepAlive, 30);
	t.false(coerced.value.mqtt.cleanSession);
	t.is(coerced.value.mqtt.protocolVersion, 5);
	t.deepEqual(coerced.value.time.servers, ["a.pool", "b.pool"]);
	t.deepEqual(brokerAddress("mqtts://emqx.local"), { tls: true, host: "emqx.local", port: 8883 });
	t.deepEqual(brokerAddress("mqtt://10.0.0.2:1884"), { tls: false, host: "10.0.0.2", port: 1884 });
});

test("identity: the client id comes from the last three MAC bytes", (t) => {
	t.is(clientIdFromMac("24:6f:28:8e:a4:0c"), "sensor_8EA40C");
	t.is(clientIdFromMac("246F288EA40C", "dev-"), "dev-8EA40C");
	t.is(normalizeMac("24-6f-28-8e-a4-0c"), "24:6F:28:8E:A4:0C");
	t.is(normalizeMac("24:6f-28:8e:a4:0c"), undefined, "mixed separators");
	t.throws(() => clientIdFromMac("not a mac"));
	t.is(connectionClientId("sensor_8EA40C", "none", 1234), "sensor_8EA40C");
	t.is(connectionClientId("sensor_8EA40C", "boot", 1234.7), "sensor_8EA40C_1234");
});

test("topics: presets, placeholders and classification", (t) => {
	const ids = { homeId: "h", deviceId: "d", tenantId: "t", clientId: "sensor_1", mac: "001122334455" };
	const smart = planTopics("smarthome", ids);
	t.is(smart.telemetry, "smarthome/h/d/telemetry");
	t.deepEqual(classifyTopic(smart, "smarthome/h/d/commands"), { kind: "commands" });
	t.is(classifyTopic(smart, "smarthome/h/other/commands"), undefined);
	const tenant = planTopics("tenant", ids);
	t.deepEqual(classifyTopic(tenant, "tenant/t/device/sensor_1/command/reboot"), { kind: "commands", rest: "reboot" });
	t.is(tenant.alertCleared, "tenant/t/device/sensor_1/alert_cleared");
	const sensor = planTopics("sensor", ids);
	t.deepEqual(sensor.values, { temperature: "sensor_1/temperature", humidity: "sensor_1/humidity" });
	t.deepEqual(classifyTopic(sensor, "sensor_1/light/control"), { kind: "light" });
	t.is(expandTemplate("{mac}/x", ids), "001122334455/x");
	t.throws(() => expandTemplate("{nope}/x", ids), { message: /unknown topic placeholder/ });
});

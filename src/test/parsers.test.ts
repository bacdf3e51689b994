/*
 * The command, config and settings parsers: unit cases and a seeded fuzz. No input may throw or
 * be accepted when it breaks a rule.
 */

import test from "ava";
import { COMMAND_LOG_SIZE, CommandLog } from "../command-log";
import { parseCommand, parseLight, MAX_COMMAND_BYTES } from "../commands";
import { Persisted } from "../persistence";
import { MemoryStore } from "../../test-host/adapters/memory-store";
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

/** A store that counts its writes (flash writes on the board). */
function countingStore(): { store: MemoryStore; writes: () => number } {
	const store = new MemoryStore();
	let writes = 0;
	const set = store.set.bind(store);
	store.set = (key, value) => {
		writes++;
		set(key, value);
	};
	return { store, writes: () => writes };
}

test("command log: the last 32 executed ids survive a restart in one compact store key, one write per command", (t) => {
	const { store, writes } = countingStore();
	const log = new CommandLog<number>(new Persisted(store, () => {}));
	const before = writes();
	for (let i = 1; i <= 40; i++) {
		t.false(log.has(`cmd-${i}`));
		log.record(`cmd-${i}`);
		log.answered(`cmd-${i}`, i);
	}
	t.is(COMMAND_LOG_SIZE, 32);
	t.is(writes() - before, 40, "one write per executed command, none for its answer");
	const text = String(store.get("cmdLog"));
	t.true(text.length <= COMMAND_LOG_SIZE * 17, `${text.length} characters`);
	t.false(text.includes("cmd-"), "ids are stored as fixed-size hashes");
	t.is(log.response("cmd-40"), 40);
	t.false(log.has("cmd-8"), "the oldest are forgotten");
	const warnings: string[] = [];
	const after = new CommandLog<number>(new Persisted(store, (_key, reason) => warnings.push(reason)));
	t.false(after.has("cmd-8"));
	for (let i = 9; i <= 40; i++) t.true(after.has(`cmd-${i}`), `cmd-${i} known after the restart`);
	t.is(after.response("cmd-40"), undefined, "answers are not kept across a restart");
	t.false(after.has("cmd-41"));
	t.deepEqual(warnings, []);
	store.set("cmdLog", "not a log");
	const corrupt: string[] = [];
	const fresh = new CommandLog<number>(new Persisted(store, (key, reason) => corrupt.push(`${key}: ${reason}`)));
	t.false(fresh.has("cmd-40"));
	t.is(corrupt.length, 1);
	for (const name of [...Object.getOwnPropertyNames(Object.prototype), "__proto__"]) t.false(fresh.has(name), name);
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

const PROTOTYPE_NAMES = [...Object.getOwnPropertyNames(Object.prototype), "__proto__"];

/** A JSON object with `name` as an own key (a literal {"__proto__": ...} would set the prototype). */
function withKey(name: string, value: unknown, around: (inner: string) => string = (x) => x): unknown {
	return JSON.parse(around(`{${JSON.stringify(name)}:${JSON.stringify(value)}}`));
}

test("every name of Object.prototype is an unknown key to both validators and the command parser; nothing is polluted", (t) => {
	const current = remoteView(defaultConfig());
	t.true(PROTOTYPE_NAMES.length >= 12);
	for (const name of PROTOTYPE_NAMES) {
		const top = validateRemoteConfig(withKey(name, 123), current);
		t.deepEqual(top.ignored, [name], `remote ${name}: ignored`);
		t.deepEqual(top.changed, [], `remote ${name}: not changed`);
		t.deepEqual(top.value, current, `remote ${name}: nothing applied`);
		t.is(Object.getPrototypeOf(top.value), Object.prototype);
		for (const section of ["mqttConfig", "alertThresholds"]) {
			const nested = validateRemoteConfig(withKey(name, 10, (inner) => `{"${section}":${inner}}`), current);
			t.is(nested.value, undefined, `remote ${section}.${name} refused`);
			t.deepEqual(nested.errors, [`${section}.${name}: unknown setting`]);
		}
		const built = validateConfig(withKey(name, 1));
		t.deepEqual(built.errors, [`${name}: unknown setting`], `--config ${name}`);
		const inMqtt = validateConfig(withKey(name, 1, (inner) => `{"mqtt":${inner}}`));
		t.deepEqual(inMqtt.errors, [`mqtt.${name}: unknown setting`]);
		t.is(Object.getPrototypeOf(inMqtt.value.mqtt), Object.prototype);
		const typed = parseCommand(enc({ commandId: "p-1", type: name }));
		t.false(typed.ok, `command type ${name}`);
		if (!typed.ok) t.regex(typed.reason, /unknown command type/);
		t.false(parseCommand(new Uint8Array(0), name).ok, `command/${name} topic`);
		const inPayload = parseCommand(enc(`{"commandId":"p-2","type":"SET_POWER","payload":${JSON.stringify(withKey(name, { power: true }))}}`));
		t.false(inPayload.ok, `payload.${name} does not supply payload.power`);
		const asId = parseCommand(enc({ commandId: name, type: "alert_reset" }));
		t.like(asId, { ok: true, envelope: { commandId: name } }, "a visible-character id is just an id");
	}
	t.false(parseCommand(enc('{"commandId":"p-3","type":"SET_POWER","payload":{"__proto__":{"power":true}}}')).ok);
	t.is(({} as Record<string, unknown>).keepAlive, undefined, "Object.prototype untouched");
	t.is(({} as Record<string, unknown>).power, undefined);
});

test("remote config: changed lists only the values that changed", (t) => {
	const current = remoteView(defaultConfig());
	const same = validateRemoteConfig({ sampleRate: current.sampleRate, alertThresholds: { ...current.alertThresholds }, powerSaving: current.powerSaving, mqttConfig: { ...current.mqttConfig } }, current);
	t.deepEqual(same.changed, []);
	t.deepEqual(same.value, current);
	const one = validateRemoteConfig({ sampleRate: current.sampleRate, powerSaving: !current.powerSaving, alertThresholds: { gas: current.alertThresholds.gas, humidity: 70 } }, current);
	t.deepEqual(one.changed, ["powerSaving", "alertThresholds.humidity"], "in the message's order, unchanged fields left out");
});

test("mqtt.url: a port outside 1..65535 is refused with a clear error", (t) => {
	for (const url of ["mqtt://127.0.0.1:99999", "mqtt://broker:65536", "mqtts://broker:0"]) {
		const result = validateConfig({ mqtt: { url } });
		t.true(result.errors.some((e) => /^mqtt\.url: port \d+ is out of range \(1 to 65535\)/.test(e)), `${url}: ${result.errors.join("; ")}`);
		t.throws(() => brokerAddress(url), { message: /out of range/ });
	}
	t.deepEqual(validateConfig({ mqtt: { url: "mqtt://broker:65535" } }).errors, []);
	t.deepEqual(brokerAddress("mqtt://broker:1"), { tls: false, host: "broker", port: 1 });
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

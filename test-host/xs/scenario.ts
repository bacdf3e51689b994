/*
 * A scripted scenario of the whole device logic that runs unchanged on Node and inside XS.
 *
 * The Device (src/device.ts) boots on fake ports (./fakes, ./broker) and a virtual clock
 * (./virtual-clock), all plain ECMAScript: no Node API, no setTimeout, console, Intl,
 * structuredClone or crypto (the JWT is signed and verified with ./sha256). test-host/test/
 * xs-scenario.test.ts bundles this file for the xsnap worker, runs run() there and on Node, and
 * requires the two summaries to be identical, text for text.
 *
 * Script (virtual time since boot; the world's wall clock starts at 2026-11-22T08:00:00Z):
 *   0:00    boot: WiFi joins after 1 s, SNTP answers 120 ms later, MQTT with a fresh JWT
 *   2:00    the backend sends SET_POWER (on, brightness 75) on the commands topic, QoS 1
 *   2:05    the same command again (a QoS 1 redelivery): answered again, executed once
 *   4:00    the backend sends a config message: sampleRate 10
 *   6:00    the access point disappears; it is back at 6:20 (the station rejoins with backoff)
 *   ~36:38  the JWT refresh (30 min after the connection): planned reconnect with a new token
 *   40:00   shutdown: status offline (retained), DISCONNECT
 *   40:10   end
 */

import { toHex, utf8Encode } from "bytes";
import { mint, verify } from "jwt";
import { Device } from "../../src/device";
import { formatHuman, isoTime } from "../../src/events";
import type { LogRecord, StoredValue } from "../../src/ports";
import { validateConfig, type DeviceConfig } from "../../src/settings";
import { FakeBroker, FakeNetwork, type BrokerEvent, type ConnectRecord, type InjectRecord, type PublishRecord } from "./broker";
import { FakeDhtCapture, FakeSntp, FakeSystem, FakeWiFi, MemoryStore, RecordingOutput, fixedRandom, type OutputWrite } from "./fakes";
import { hmacSha256, sha256 } from "./sha256";
import { VirtualClock } from "./virtual-clock";

const MINUTE = 60_000;

/** Everything the scenario is made of, for the test to check against. */
export const SCENARIO = Object.freeze({
	/** The world's wall-clock time at boot: 2026-11-22T08:00:00Z. */
	epochMs: Date.UTC(2026, 10, 22, 8, 0, 0),
	mac: "24:6F:28:8E:A4:0C",
	clientId: "sensor_8EA40C",
	homeId: "home1",
	broker: { host: "broker.local", port: 1883 },
	jwt: { secret: "xs-scenario-secret-0123456789", issuer: "esp32-sensor", audience: "emqx", ttl: 3600, refresh: 1800 },
	keepAlive: 20,
	telemetryInterval: 30,
	heartbeat: 60,
	newSampleRate: 10,
	wifiJoinMs: 1000,
	sntpDelayMs: 120,
	dhtLatencyMs: 5,
	netDelayMs: 2,
	freeMemory: 186_000,
	/** The DHT22 answers these in turn. */
	readings: Object.freeze([
		{ temperature: 22.5, humidity: 55 },
		{ temperature: 22.6, humidity: 54.9 },
		{ temperature: 23.1, humidity: 54.2 },
		{ temperature: 21.7, humidity: 56.3 },
	]),
	command: { commandId: "cmd-0001", power: true, brightness: 75 },
	at: Object.freeze({
		command: 2 * MINUTE,
		commandAgain: 2 * MINUTE + 5_000,
		config: 4 * MINUTE,
		wifiDrop: 6 * MINUTE,
		wifiBack: 6 * MINUTE + 20_000,
		shutdown: 40 * MINUTE,
		end: 40 * MINUTE + 10_000,
	}),
});

/* SHA-256 / HMAC known answers ---------------------------------------------------------- */

interface Vector {
	name: string;
	run: () => Uint8Array;
	expected: string;
}

function repeat(byte: number, length: number): Uint8Array {
	return new Uint8Array(length).fill(byte);
}

const VECTORS: readonly Vector[] = [
	{ name: "sha256 empty", run: () => sha256(new Uint8Array(0)), expected: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ name: "sha256 abc", run: () => sha256(utf8Encode("abc")), expected: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{
		name: "sha256 448 bits",
		run: () => sha256(utf8Encode("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
		expected: "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	},
	{
		name: "sha256 896 bits",
		run: () => sha256(utf8Encode("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")),
		expected: "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
	},
	{ name: "hmac rfc4231 case 1", run: () => hmacSha256(repeat(0x0b, 20), utf8Encode("Hi There")), expected: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ name: "hmac rfc4231 case 2", run: () => hmacSha256(utf8Encode("Jefe"), utf8Encode("what do ya want for nothing?")), expected: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ name: "hmac rfc4231 case 3", run: () => hmacSha256(repeat(0xaa, 20), repeat(0xdd, 50)), expected: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{
		name: "hmac rfc4231 case 6",
		run: () => hmacSha256(repeat(0xaa, 131), utf8Encode("Test Using Larger Than Block-Size Key - Hash Key First")),
		expected: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	},
	{
		name: "hmac rfc4231 case 7",
		run: () => hmacSha256(repeat(0xaa, 131), utf8Encode("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.")),
		expected: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	},
];

export interface VectorResult {
	name: string;
	expected: string;
	actual: string;
	ok: boolean;
}

export function sha256Vectors(): VectorResult[] {
	return VECTORS.map((v) => {
		const actual = toHex(v.run());
		return { name: v.name, expected: v.expected, actual, ok: actual === v.expected };
	});
}

/** Data and key of a given length, for comparing with another implementation. */
export function sweepInput(length: number): { data: Uint8Array; key: Uint8Array } {
	const data = new Uint8Array(length);
	for (let i = 0; i < length; i++) data[i] = (i * 31 + length) & 0xff;
	const key = new Uint8Array((length * 7) % 150);
	for (let i = 0; i < key.length; i++) key[i] = (i * 13 + 7) & 0xff;
	return { data, key };
}

/** SHA-256 and HMAC-SHA256 (hex) of sweepInput(n) for n = 0..maxLength: every padding case. */
export function sha256Sweep(maxLength: number): { sha256: string; hmac: string }[] {
	const out: { sha256: string; hmac: string }[] = [];
	for (let n = 0; n <= maxLength; n++) {
		const { data, key } = sweepInput(n);
		out.push({ sha256: toHex(sha256(data)), hmac: toHex(hmacSha256(key, data)) });
	}
	return out;
}

/* The summary ----------------------------------------------------------------------------- */

export interface TelemetryPoint {
	seq: number;
	/** When the broker received it (virtual ms since boot). */
	atMs: number;
	/** The device's timestamp in the payload. */
	timestamp: string | null;
	temperature: number | null;
	humidity: number | null;
	sensorStatus: string;
}

export interface Summary {
	scenario: { epoch: string; endMs: number; script: { atMs: number; action: string }[] };
	sha256: VectorResult[];
	/** The broker's token check, tried on good and bad tokens. */
	jwtChecks: { name: string; result: string }[];
	/** Every log record, in order. */
	events: LogRecord[];
	/** The same records as the serial monitor shows them (formatHuman). */
	console: string[];
	ledPatterns: { atMs: number; pattern: string }[];
	led: { writes: number; transitions: number; finalLevel: 0 | 1 };
	power: { writes: OutputWrite[]; final: { on: boolean; brightness: number } };
	broker: {
		connects: ConnectRecord[];
		subscriptions: { atMs: number; clientId: string; filter: string; qos: number }[];
		publishes: PublishRecord[];
		injected: InjectRecord[];
		events: BrokerEvent[];
		pings: number;
		retained: Record<string, string>;
		connectedAtEnd: string[];
	};
	telemetry: { count: number; points: TelemetryPoint[] };
	jwt: { token: string | null; claims: Record<string, unknown> | null; minted: { iat: number; exp: number }[] };
	device: {
		clientId: string;
		state: string;
		online: boolean;
		timeValid: boolean;
		config: { interval: number; heartbeat: number; keepAlive: number };
		topics: { telemetry: string; status: string; heartbeat: string; response: string; subscriptions: string[] };
	};
	store: Record<string, StoredValue>;
	restarts: string[];
	shutdown: { done: boolean; atMs: number | null };
	counts: { wifiJoins: number; sntpRequests: number; dhtCaptures: number; timersFired: number; timersPendingAtEnd: number };
	network: { opened: number; refused: number; bytesToBroker: number; bytesToClient: number };
}

function scenarioConfig(): DeviceConfig {
	const s = SCENARIO;
	const check = validateConfig({
		device: { homeId: s.homeId },
		wifi: { ssid: "greenhouse", password: "wifi-password" },
		mqtt: { url: `mqtt://${s.broker.host}:${s.broker.port}`, keepAlive: s.keepAlive },
		auth: { mode: "jwt", jwtSecret: s.jwt.secret, jwtIssuer: s.jwt.issuer, jwtAudience: s.jwt.audience, jwtTtl: s.jwt.ttl, jwtRefresh: s.jwt.refresh },
		telemetry: { interval: s.telemetryInterval, heartbeat: s.heartbeat },
	});
	if (check.errors.length) throw new Error(`scenario config is invalid: ${check.errors.join("; ")}`);
	return check.value;
}

/** The broker's verification against tokens that must pass and tokens that must not. */
function jwtChecks(worldNowSeconds: number): { name: string; result: string }[] {
	const j = SCENARIO.jwt;
	const good = mint({ secret: j.secret, now: worldNowSeconds, ttl: 3600, issuer: j.issuer, audience: j.audience, subject: "probe", hmac: hmacSha256 });
	const wrongSecret = mint({ secret: j.secret + "x", now: worldNowSeconds, ttl: 3600, issuer: j.issuer, audience: j.audience, hmac: hmacSha256 });
	const wrongAudience = mint({ secret: j.secret, now: worldNowSeconds, ttl: 3600, issuer: j.issuer, audience: "mosquitto", hmac: hmacSha256 });
	const expired = mint({ secret: j.secret, now: worldNowSeconds - 7200, ttl: 3600, issuer: j.issuer, audience: j.audience, hmac: hmacSha256 });
	const tampered = good.token.slice(0, -2) + (good.token.endsWith("AA") ? "AB" : "AA");
	const check = (token: string) => {
		const r = verify(token, { secret: j.secret, hmac: hmacSha256, now: worldNowSeconds, issuer: j.issuer, audience: j.audience });
		return r.ok ? "ok" : r.reason;
	};
	return [
		{ name: "good", result: check(good.token) },
		{ name: "wrong secret", result: check(wrongSecret.token) },
		{ name: "wrong audience", result: check(wrongAudience.token) },
		{ name: "expired", result: check(expired.token) },
		{ name: "tampered signature", result: check(tampered) },
		{ name: "not a JWT", result: check("not.a.jwt") },
	];
}

function telemetryPoints(publishes: readonly PublishRecord[], topic: string): TelemetryPoint[] {
	const points: TelemetryPoint[] = [];
	for (const p of publishes) {
		if (p.topic !== topic || p.source !== "client") continue;
		const body = JSON.parse(p.payload) as {
			seq: number;
			timestamp: string | null;
			sensors: { temperature: number | null; humidity: number | null };
			metadata: { sensorStatus: string };
		};
		points.push({ seq: body.seq, atMs: p.atMs, timestamp: body.timestamp, temperature: body.sensors.temperature, humidity: body.sensors.humidity, sensorStatus: body.metadata.sensorStatus });
	}
	return points;
}

/** Runs the whole scenario and returns what happened. Synchronous: the logic needs no promise jobs. */
export function run(): Summary {
	const s = SCENARIO;
	const clock = new VirtualClock(s.epochMs);
	const broker = new FakeBroker({ clock, hmac: hmacSha256, jwtSecret: s.jwt.secret, jwtIssuer: s.jwt.issuer, jwtAudience: s.jwt.audience });
	const network = new FakeNetwork({ clock, broker, host: s.broker.host, port: s.broker.port, delayMs: s.netDelayMs });
	// The ssid= build: the driver is up at boot, so device.boot already names the client id.
	const wifi = new FakeWiFi({ clock, network, mac: s.mac, macAtBoot: true, joinMs: s.wifiJoinMs, ip: "192.168.4.23", rssi: -58 });
	const sntp = new FakeSntp(clock, () => wifi.connected, s.sntpDelayMs);
	const dht = new FakeDhtCapture(clock, s.readings, s.dhtLatencyMs);
	const led = new RecordingOutput(() => clock.now());
	const power = new RecordingOutput(() => clock.now());
	const store = new MemoryStore();
	const system = new FakeSystem(s.freeMemory);
	const records: LogRecord[] = [];

	const device = new Device({
		config: scenarioConfig(),
		ports: {
			clock,
			wifi,
			sntp,
			tcp: network.tcp,
			led,
			power,
			dht,
			store,
			hmac: hmacSha256,
			random: fixedRandom(0.5),
			system,
			log: (record) => records.push(record),
		},
	});

	const script: { atMs: number; action: string }[] = [];
	const at = (atMs: number, action: string, body: () => void) => {
		clock.at(atMs, () => {
			script.push({ atMs: clock.now(), action });
			body();
		});
	};
	const base = `smarthome/${s.homeId}/${s.clientId}`;
	const commandPayload = () => JSON.stringify({
		commandId: s.command.commandId,
		timestamp: isoTime(clock.worldTime()),
		type: "SET_POWER",
		payload: { power: s.command.power, brightness: s.command.brightness },
	});
	at(s.at.command, "backend: SET_POWER", () => broker.publish(`${base}/commands`, commandPayload(), 1));
	at(s.at.commandAgain, "backend: SET_POWER again (same commandId)", () => broker.publish(`${base}/commands`, commandPayload(), 1));
	at(s.at.config, `backend: config sampleRate ${s.newSampleRate}`, () => broker.publish(`${base}/config`, JSON.stringify({ config: { sampleRate: s.newSampleRate } }), 1));
	at(s.at.wifiDrop, "access point gone", () => wifi.dropAccessPoint("beacon timeout"));
	at(s.at.wifiBack, "access point back", () => wifi.restoreAccessPoint());
	const shutdown = { done: false, atMs: null as number | null };
	at(s.at.shutdown, "shutdown", () => device.shutdown(() => {
		shutdown.done = true;
		shutdown.atMs = clock.now();
	}));

	script.push({ atMs: 0, action: "boot" });
	device.start();
	clock.advanceTo(s.at.end);

	const firstConnect = broker.connects[0];
	const plan = device.topics;
	const config = device.config;
	const retained: Record<string, string> = {};
	for (const topic of [...broker.retained.keys()].sort()) retained[topic] = broker.retained.get(topic)!;
	const points = telemetryPoints(broker.publishes, plan.telemetry);

	const summary: Summary = {
		scenario: { epoch: isoTime(s.epochMs), endMs: clock.now(), script: script.sort((a, b) => a.atMs - b.atMs) },
		sha256: sha256Vectors(),
		jwtChecks: jwtChecks(Math.floor(clock.worldTime() / 1000)),
		events: records,
		console: records.map((r) => formatHuman(r)),
		ledPatterns: records.filter((r) => r.event === "led.pattern").map((r) => ({ atMs: r.uptimeMs, pattern: String(r.pattern) })),
		led: { writes: led.writes.length, transitions: led.transitions(0, Infinity), finalLevel: led.level },
		power: { writes: power.writes, final: device.power },
		broker: {
			connects: broker.connects,
			subscriptions: broker.subscriptions,
			publishes: broker.publishes,
			injected: broker.injected,
			events: broker.events,
			pings: broker.pings,
			retained,
			connectedAtEnd: broker.connectedClients,
		},
		telemetry: { count: points.length, points },
		jwt: {
			token: firstConnect?.token ?? null,
			claims: firstConnect?.claims ?? null,
			minted: records.filter((r) => r.event === "jwt.minted").map((r) => ({ iat: Number(r.iat), exp: Number(r.exp) })),
		},
		device: {
			clientId: device.clientId,
			state: device.supervisor.state,
			online: device.supervisor.online,
			timeValid: device.supervisor.timeValid,
			config: { interval: config.telemetry.interval, heartbeat: config.telemetry.heartbeat, keepAlive: config.mqtt.keepAlive },
			topics: { telemetry: plan.telemetry, status: plan.status, heartbeat: plan.heartbeat, response: plan.response, subscriptions: plan.subscriptions.map((x) => x.filter) },
		},
		store: store.snapshot(),
		restarts: system.restarts,
		shutdown,
		counts: { wifiJoins: wifi.joins, sntpRequests: sntp.requests, dhtCaptures: dht.captures, timersFired: clock.fired, timersPendingAtEnd: clock.pending },
		network: { ...network.stats },
	};
	return summary;
}

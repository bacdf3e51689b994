/*
 * The XS check: the platform-free logic, bundled with esbuild (ES2022), runs a scripted scenario
 * inside the real XS engine (xsnap-worker) and on Node; the two summaries must be identical, text
 * for text (so Date formatting, JSON key order and number formatting count), and the summary must
 * show the device doing its job. See test-host/xs/scenario.ts for the script.
 */

import test from "ava";
import type { ExecutionContext } from "ava";
import { createHash, createHmac } from "node:crypto";
import { bundleForXs } from "../xs/bundle";
import { SCENARIO, run, sha256Sweep, sweepInput, type Summary, type TelemetryPoint } from "../xs/scenario";
import { XsWorker, requireXs } from "../xs/xsnap";
import type { LogRecord } from "../../src/ports";

// Under CI=true a missing engine throws here, so the XS tests cannot be skipped silently.
const xsTest = (await requireXs()) ? test : test.skip;

const GLOBAL = "__scenario";
const S = SCENARIO;
const BASE = `smarthome/${S.homeId}/${S.clientId}`;

/* Helpers ------------------------------------------------------------------------------------ */

/** Where two texts first differ, with context, or undefined when they are equal. */
function firstDifference(a: string, b: string, context = 160): string | undefined {
	if (a === b) return undefined;
	let i = 0;
	while (i < a.length && i < b.length && a[i] === b[i]) i++;
	const from = Math.max(0, i - context);
	return `first difference at character ${i} of ${a.length} / ${b.length}:\n` +
		`  XS:   …${a.slice(from, i + context)}…\n` +
		`  Node: …${b.slice(from, i + context)}…`;
}

let bundled: Promise<string> | undefined;
/** The scenario bundled for XS, once for every test of this file. */
function bundle(): Promise<string> {
	bundled ??= bundleForXs("test-host/xs/scenario.ts", { globalName: GLOBAL });
	return bundled;
}

let nodeSummary: { text: string; summary: Summary } | undefined;
/** The scenario on Node, run once for every test of this file. */
function onNode(): { text: string; summary: Summary } {
	if (!nodeSummary) {
		const text = JSON.stringify(run());
		// Through JSON like the XS side: what is compared is what the summary serialises to.
		nodeSummary = { text, summary: JSON.parse(text) as Summary };
	}
	return nodeSummary;
}

function events(s: Summary, name: string): LogRecord[] {
	return s.events.filter((r) => r.event === name);
}

function only<T>(t: ExecutionContext, list: readonly T[], what: string): T {
	t.is(list.length, 1, `exactly one ${what}`);
	return list[0];
}

function worldMs(atMs: number): number {
	return S.epochMs + atMs;
}

/** Telemetry that reached the broker as it was sampled, not later from the offline outbox. */
function live(points: readonly TelemetryPoint[]): TelemetryPoint[] {
	return points.filter((p) => p.timestamp !== null && worldMs(p.atMs) - Date.parse(p.timestamp) <= S.netDelayMs);
}

function intervals(points: readonly TelemetryPoint[]): number[] {
	const out: number[] = [];
	for (let i = 1; i < points.length; i++) out.push(points[i].atMs - points[i - 1].atMs);
	return out;
}

function parse(payload: string): Record<string, unknown> {
	return JSON.parse(payload) as Record<string, unknown>;
}

function base64urlJson(part: string): Record<string, unknown> {
	return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/* XS against Node ---------------------------------------------------------------------------- */

xsTest("the scenario gives the same summary inside XS as on Node, character for character", async (t) => {
	const code = await bundle();
	const worker = await XsWorker.start();
	try {
		// It really is XS: none of the Node (or browser) globals the logic must not rely on.
		const absent = await worker.evaluateJson<Record<string, string>>(`({
			setTimeout: typeof setTimeout, setInterval: typeof setInterval, console: typeof console, Intl: typeof Intl,
			structuredClone: typeof structuredClone, crypto: typeof crypto, queueMicrotask: typeof queueMicrotask,
			process: typeof process, Buffer: typeof Buffer,
		})`);
		for (const [name, type] of Object.entries(absent)) t.is(type, "undefined", `${name} must not exist in the XS worker`);

		await worker.evaluate(code);
		t.is(await worker.evaluateJson(`typeof ${GLOBAL}.run`), "function");
		const xsText = await worker.evaluateJson<string>(`JSON.stringify(${GLOBAL}.run())`);
		t.true((worker.lastMeter?.compute ?? 0) > 1_000_000, "XS computed the scenario (meter)");
		t.notRegex(worker.stderr, /Unhandled exception/, "no unhandled rejection inside XS");
		t.is(typeof xsText, "string");

		const node = onNode();
		// Section by section, as text (JSON.parse keeps key order), so a failure names the section
		// and shows where it first differs instead of diffing the whole summary.
		const inXs = JSON.parse(xsText) as Record<string, unknown>;
		const onNodeParsed = JSON.parse(node.text) as Record<string, unknown>;
		t.deepEqual(Object.keys(inXs), Object.keys(onNodeParsed), "the summaries have the same sections");
		for (const key of Object.keys(onNodeParsed)) {
			const a = JSON.stringify(inXs[key]);
			const b = JSON.stringify(onNodeParsed[key]);
			t.true(a === b, `summary.${key} differs between XS and Node; ${firstDifference(a, b) ?? ""}`);
		}
		t.true(xsText === node.text, `the summaries differ as text; ${firstDifference(xsText, node.text) ?? ""}`);
		t.true(xsText.length > 50_000, "the summary is the whole run, not an empty shell");
	}
	finally {
		await worker.close();
	}
});

xsTest("SHA-256 and HMAC-SHA256 inside XS agree with node:crypto for lengths 0 to 200", async (t) => {
	const code = await bundle();
	const worker = await XsWorker.start();
	try {
		await worker.evaluate(code);
		const inXs = await worker.evaluateJson<{ sha256: string; hmac: string }[]>(`${GLOBAL}.sha256Sweep(200)`);
		t.is(inXs.length, 201);
		inXs.forEach((got, n) => {
			const { data, key } = sweepInput(n);
			t.is(got.sha256, createHash("sha256").update(data).digest("hex"), `SHA-256 of ${n} bytes`);
			t.is(got.hmac, createHmac("sha256", key).update(data).digest("hex"), `HMAC-SHA256 of ${n} bytes with a ${key.length}-byte key`);
		});
	}
	finally {
		await worker.close();
	}
});

xsTest("the comparison can fail: an engine difference shows up as a difference", async (t) => {
	// The same source in both engines; V8 and XS word a TypeError differently.
	const probe = "(() => { try { null.x; return 'no error'; } catch (e) { return JSON.stringify({ name: e.name, message: e.message }); } })()";
	const worker = await XsWorker.start();
	try {
		const inXs = await worker.evaluateJson<string>(probe);
		const onNodeText = (0, eval)(probe) as string;
		t.is(parse(inXs).name, "TypeError");
		t.truthy(firstDifference(inXs, onNodeText), `expected the engines to differ, both said ${inXs}`);
	}
	finally {
		await worker.close();
	}
	// Key order: equal to deepEqual, different as text, which is why the text is compared too.
	t.deepEqual(JSON.parse('{"a":1,"b":2}'), JSON.parse('{"b":2,"a":1}'));
	t.truthy(firstDifference('{"a":1,"b":2}', '{"b":2,"a":1}'));
	t.is(firstDifference("same", "same"), undefined);
});

/* What the summary says (on Node; the XS test above requires the XS summary to be identical) ----- */

test("the plain-JS SHA-256 and HMAC pass their known-answer vectors and agree with node:crypto", (t) => {
	const { summary } = onNode();
	t.true(summary.sha256.length >= 9);
	for (const v of summary.sha256) t.true(v.ok, `${v.name}: expected ${v.expected}, got ${v.actual}`);
	sha256Sweep(200).forEach((got, n) => {
		const { data, key } = sweepInput(n);
		t.is(got.sha256, createHash("sha256").update(data).digest("hex"), `SHA-256 of ${n} bytes`);
		t.is(got.hmac, createHmac("sha256", key).update(data).digest("hex"), `HMAC of ${n} bytes`);
	});
});

test("the broker's JWT check accepts a good token and refuses bad ones", (t) => {
	const checks = Object.fromEntries(onNode().summary.jwtChecks.map((c) => [c.name, c.result]));
	t.deepEqual(checks, {
		"good": "ok",
		"wrong secret": "signature does not match the secret",
		"wrong audience": "audience mosquitto is not emqx",
		"expired": "token expired",
		"tampered signature": "signature does not match the secret",
		"not a JWT": "not a JWT",
	});
});

test("the device boots through WIFI, TIME and MQTT to ONLINE, with a JWT the broker accepts", (t) => {
	const s = onNode().summary;
	const states = events(s, "state.changed").map((r) => `${String(r.from)}>${String(r.to)}`);
	t.deepEqual(states.slice(0, 4), ["BOOT>WIFI", "WIFI>TIME", "TIME>MQTT", "MQTT>ONLINE"]);
	const boot = events(s, "device.boot")[0];
	t.is(boot.clientId, S.clientId);
	t.is(boot.ts, null, "before SNTP the wall clock is not set: no ts");
	const synced = only(t, events(s, "time.synced"), "time sync");
	t.is(synced.uptimeMs, S.wifiJoinMs + S.sntpDelayMs);
	t.is(synced.epochMs, worldMs(S.wifiJoinMs + S.sntpDelayMs));
	t.is(synced.ts, new Date(worldMs(S.wifiJoinMs + S.sntpDelayMs)).toISOString(), "after SNTP the wall clock is the world's");
	const first = s.broker.connects[0];
	t.is(first.returnCode, 0, first.refused);
	t.is(first.clientId, S.clientId);
	t.is(first.keepAlive, S.keepAlive);
	t.deepEqual(first.will, { topic: `${BASE}/status`, qos: 1, retain: true, bytes: first.will?.bytes ?? -1 });
	t.true(s.broker.connects.every((c) => c.returnCode === 0), "every CONNECT was accepted");
	t.deepEqual(s.broker.subscriptions.slice(0, 2).map((x) => x.filter), [`${BASE}/commands`, `${BASE}/config`]);
	t.true(events(s, "mqtt.connected").length >= 2);
	t.true(s.broker.pings > 0, "PINGREQ answered with PINGRESP (keepalive 20 s, telemetry 30 s)");
});

test("CONNECT sizes: what the device announced is what the broker received, within the buffer", (t) => {
	const s = onNode().summary;
	const announced = events(s, "mqtt.connecting").map((r) => r.connectBytes);
	t.deepEqual(s.broker.connects.map((c) => c.bytes), announced);
	for (const c of s.broker.connects) {
		t.true(c.bytes > 400 && c.bytes <= 1024, `CONNECT of ${c.bytes} bytes fits the 1024-byte buffer`);
	}
});

test("JWT claims: iss esp32-sensor, aud emqx, sub the client id, exp = minting time + 3600, iat at most a minute before it; a fresh token per connection", (t) => {
	const s = onNode().summary;
	const claims = s.jwt.claims;
	if (!claims || !s.jwt.token) return t.fail("no verified token in the summary");
	t.is(claims.iss, "esp32-sensor");
	t.is(claims.aud, "emqx");
	t.is(claims.sub, S.clientId);
	const minted = events(s, "jwt.minted");
	const mintedAt = Math.floor(worldMs(Number(minted[0].uptimeMs)) / 1000);
	t.is(claims.exp, mintedAt + 3600, "exp is the virtual wall time at the attempt + 3600");
	const early = mintedAt - Number(claims.iat);
	t.true(early >= 0 && early <= 60, `iat ${early} s before the attempt: never in the broker's future (EMQX refuses that), at most a minute early`);
	t.deepEqual(s.jwt.minted.map((m) => m.exp - m.iat), s.jwt.minted.map(() => 3600 + early));
	t.deepEqual(s.broker.connects.map((c) => c.claims?.iat), s.jwt.minted.map((m) => m.iat), "the broker verified each minted token");
	// Independently of the plain-JS HMAC: node:crypto agrees with the signature made in the scenario.
	const [header, payload, signature] = s.jwt.token.split(".");
	t.deepEqual(base64urlJson(header), { alg: "HS256", typ: "JWT" });
	t.deepEqual(base64urlJson(payload), claims);
	t.is(signature, createHmac("sha256", S.jwt.secret).update(`${header}.${payload}`).digest("base64url"));
	// The refresh: a planned reconnect with a new token 30 min after the connection.
	const refresh = only(t, events(s, "jwt.refresh"), "JWT refresh");
	t.is(refresh.reason, "token refresh");
	const reconnect = events(s, "mqtt.connected").find((r) => r.uptimeMs > refresh.uptimeMs);
	t.truthy(reconnect, "online again after the refresh");
	t.is(s.jwt.minted.length, 3, "boot, after the WiFi drop, after the refresh");
	t.is(s.jwt.minted[2].iat - s.jwt.minted[1].iat, S.jwt.refresh);
});

test("telemetry: temperatures from the DHT22, every sequence number once, 30 s apart then 10 s", (t) => {
	const s = onNode().summary;
	const points = s.telemetry.points;
	t.true(points.length > 100, `${points.length} telemetry messages`);
	t.is(s.telemetry.count, points.length);
	t.deepEqual(points.map((p) => p.seq), points.map((_, i) => i + 1), "no gap, no duplicate, in order");
	for (const p of points) {
		const expected = S.readings[(p.seq - 1) % S.readings.length];
		t.is(p.sensorStatus, "ok");
		t.is(p.temperature, expected.temperature, `seq ${p.seq}`);
		t.is(p.humidity, expected.humidity, `seq ${p.seq}`);
		t.regex(p.timestamp ?? "", /^2026-11-22T08:\d\d:\d\d\.\d{3}Z$/);
	}
	const published = events(s, "telemetry.published");
	t.is(published.length, points.length);
	t.true(published.every((r) => typeof r.temperature === "number"), "telemetry.published carries the temperature");
	t.true(s.console.some((line) => line.includes("Temperature: 22.5°C  Humidity: 55.0%")), "the serial line formats the reading");

	const applied = only(t, events(s, "config.applied"), "config applied").uptimeMs;
	const runs = live(points);
	const before = runs.filter((p) => p.atMs < applied);
	const during = runs.filter((p) => p.atMs > applied && p.atMs < S.at.wifiDrop);
	const after = runs.filter((p) => p.atMs > S.at.wifiBack && p.atMs < S.at.shutdown);
	t.true(before.length >= 5 && during.length >= 10 && after.length >= 100);
	t.deepEqual([...new Set(intervals(before))], [S.telemetryInterval * 1000], "every 30 s before the config");
	t.deepEqual([...new Set(intervals(during))], [S.newSampleRate * 1000], "every 10 s after it");
	t.deepEqual([...new Set(intervals(after))], [S.newSampleRate * 1000], "still every 10 s after the reconnects");
	t.is(s.device.config.interval, S.newSampleRate);
});

test("SET_POWER: executed once, answered ok (twice for the redelivery), the power output switched", (t) => {
	const s = onNode().summary;
	const [command, again] = s.broker.injected.filter((i) => i.topic === `${BASE}/commands`);
	t.deepEqual(command.deliveredTo, [S.clientId]);
	t.deepEqual(command.acknowledgedBy, [S.clientId], "PUBACK from the device");
	t.deepEqual(again.acknowledgedBy, [S.clientId]);
	const responses = s.broker.publishes.filter((p) => p.topic === `${BASE}/responses`).map((p) => parse(p.payload));
	const answers = responses.filter((r) => r.commandId === S.command.commandId);
	t.is(answers.length, 2, "the redelivered command is answered again");
	for (const r of answers) {
		t.like(r, { commandId: "cmd-0001", status: "ok", type: "SET_POWER", result: { power: true, brightness: 75 } });
	}
	t.is(answers[0].timestamp, new Date(worldMs(S.at.command + S.netDelayMs)).toISOString());
	const changed = only(t, events(s, "power.changed"), "power change (the duplicate is not executed again)");
	t.like(changed, { on: true, brightness: 75 });
	t.is(only(t, events(s, "command.duplicate"), "duplicate").commandId, "cmd-0001");
	t.deepEqual(s.power.writes.map((w) => w.value), [0, 1]);
	t.true(s.power.writes[1].atMs >= S.at.command && s.power.writes[1].atMs < S.at.command + 100);
	t.deepEqual(s.power.final, { on: true, brightness: 75 });
	t.deepEqual(JSON.parse(String(s.store.power)), { on: true, brightness: 75 }, "persisted");
	const completed = events(s, "command.completed");
	t.deepEqual(completed.map((r) => r.status), ["ok"]);
});

test("remote config: sampleRate 10 applied, acknowledged, persisted and reported in the status", (t) => {
	const s = onNode().summary;
	const applied = only(t, events(s, "config.applied"), "config applied");
	t.deepEqual(applied.changed, ["sampleRate"]);
	t.true(applied.uptimeMs >= S.at.config && applied.uptimeMs < S.at.config + 100);
	const response = s.broker.publishes.filter((p) => p.topic === `${BASE}/responses`).map((p) => parse(p.payload)).find((r) => r.type === "config");
	t.like(response, { commandId: null, type: "config", status: "ok", result: { changed: ["sampleRate"] } });
	const statusAfter = s.broker.publishes.find((p) => p.topic === `${BASE}/status` && p.atMs >= applied.uptimeMs);
	t.like(parse(statusAfter?.payload ?? "{}"), { online: true, status: { config: { sampleRate: 10 } } });
	t.like(JSON.parse(String(s.store.config)), { sampleRate: 10 });
	t.is(events(s, "config.rejected").length, 0);
});

test("WiFi drop at 6:00, access point back at 6:20: the will, the outbox, and MQTT online again", (t) => {
	const s = onNode().summary;
	const drop = events(s, "wifi.disconnected")[0];
	t.is(drop.uptimeMs, S.at.wifiDrop);
	t.is(drop.reason, "beacon timeout");
	t.is(drop.level, "warn");
	const lost = events(s, "mqtt.disconnected")[0];
	t.is(lost.uptimeMs, S.at.wifiDrop);
	const rejoined = events(s, "wifi.connected").find((r) => r.uptimeMs > S.at.wifiDrop);
	if (!rejoined) return t.fail("WiFi never came back");
	t.true(rejoined.uptimeMs > S.at.wifiBack, "not before the access point is back");
	t.true(rejoined.uptimeMs < S.at.wifiBack + 60_000, "within the WiFi backoff cap of it");
	const online = events(s, "mqtt.connected").find((r) => r.uptimeMs > rejoined.uptimeMs);
	if (!online) return t.fail("MQTT never came back");
	t.true(online.uptimeMs - rejoined.uptimeMs < 1000, "MQTT right after WiFi (no stale backoff)");
	const state = events(s, "state.changed").filter((r) => r.uptimeMs >= S.at.wifiDrop && r.uptimeMs <= online.uptimeMs).map((r) => `${String(r.from)}>${String(r.to)}`);
	t.deepEqual(state, ["ONLINE>WIFI", "WIFI>MQTT", "MQTT>ONLINE"], "the clock stays valid: no TIME state again");

	// The broker noticed the silence (1.5 x keepalive) and published the will: status offline, retained.
	const will = only(t, s.broker.publishes.filter((p) => p.source === "will"), "will");
	t.is(will.topic, `${BASE}/status`);
	t.true(will.retain);
	t.like(parse(will.payload), { online: false, deviceId: S.clientId });
	const heard = [
		...s.broker.publishes.filter((p) => p.source === "client").map((p) => p.atMs),
		...s.broker.events.filter((e) => e.event === "ping" || e.event === "puback" || e.event === "subscribe").map((e) => e.atMs),
	].filter((atMs) => atMs < S.at.wifiDrop);
	t.is(will.atMs, Math.max(...heard) + S.keepAlive * 1500, "1.5 x keepalive after the last packet the broker heard from the device");
	t.true(will.atMs > S.at.wifiDrop && will.atMs < rejoined.uptimeMs);
	// What was sampled offline was kept and sent after the reconnect, with its own timestamps.
	const queued = events(s, "telemetry.queued");
	t.true(queued.length >= 3);
	const points = s.telemetry.points;
	for (const q of queued) {
		const p = points.find((x) => x.seq === q.seq);
		if (!p) return t.fail(`queued telemetry seq ${String(q.seq)} never arrived`);
		t.true(p.atMs >= online.uptimeMs, `seq ${p.seq} arrived after the reconnect`);
		t.is(p.timestamp, new Date(worldMs(q.uptimeMs)).toISOString(), `seq ${p.seq} keeps the time it was sampled`);
	}
	const statusBack = s.broker.publishes.find((p) => p.topic === `${BASE}/status` && p.source === "client" && p.atMs >= online.uptimeMs);
	t.like(parse(statusBack?.payload ?? "{}"), { online: true });
});

test("LED: fast while joining WiFi, slow while getting time and connecting, on while online", (t) => {
	const s = onNode().summary;
	t.deepEqual(s.ledPatterns.map((p) => p.pattern), ["fast", "slow", "on", "fast", "slow", "on", "slow", "on"]);
	const firstOnline = events(s, "mqtt.connected")[0].uptimeMs;
	t.deepEqual(s.ledPatterns.slice(0, 4).map((p) => p.atMs), [0, S.wifiJoinMs, firstOnline, S.at.wifiDrop]);
	t.true(s.led.writes > 100, "it blinked");
	t.is(s.led.finalLevel, 0, "dark after shutdown");
});

test("only the expected warnings, no errors", (t) => {
	const s = onNode().summary;
	const errors = s.events.filter((r) => r.level === "error");
	t.deepEqual(errors.map((r) => r.event), [], JSON.stringify(errors));
	const warnings = s.events.filter((r) => r.level === "warn");
	t.deepEqual([...new Set(warnings.map((r) => r.event))].sort(), ["mqtt.disconnected", "wifi.disconnected"], JSON.stringify(warnings));
	for (const w of warnings) t.true(w.uptimeMs >= S.at.wifiDrop && w.uptimeMs <= S.at.wifiBack + 60_000, `${w.event} at ${w.uptimeMs} ms belongs to the WiFi drop`);
	t.deepEqual(s.restarts, []);
	t.deepEqual(s.broker.events.filter((e) => e.event === "drop").map((e) => e.detail), [`nothing received for ${S.keepAlive * 1.5} s (keepalive ${S.keepAlive} s)`]);
});

test("shutdown: status offline (retained), DISCONNECT, every timer stopped", (t) => {
	const s = onNode().summary;
	t.true(s.shutdown.done);
	t.true((s.shutdown.atMs ?? Infinity) < S.at.shutdown + 2000);
	t.like(parse(s.broker.retained[`${BASE}/status`] ?? "{}"), { online: false, status: { power: { on: true, brightness: 75 } } });
	t.is(s.broker.events[s.broker.events.length - 1]?.event, "disconnect", "a clean DISCONNECT: no will");
	t.deepEqual(s.broker.connectedAtEnd, []);
	t.is(s.counts.timersPendingAtEnd, 0, "nothing left running after shutdown");
	t.like(JSON.parse(String(s.store.counters)), { boots: 1 });
});

/*
 * What a planned restart keeps: within one store value of KEPT_BYTES, every payload back byte for
 * byte, in order; answers and alerts before readings, the newest readings before older ones; what
 * does not fit is named, and counted for the next status.
 */

import test from "ava";
import { encode, telemetry, type DeviceFacts } from "../messages";
import type { Outgoing } from "../outbox";
import { KEPT_BYTES, packKept, unpackKept } from "../restart";

const BASE = "smarthome/home1/sensor_8EA40C";

function reading(seq: number, boot = 3): Outgoing {
	const facts: DeviceFacts = { deviceId: "sensor_8EA40C", boot, firmwareVersion: "0.1.0", timestamp: new Date(Date.UTC(2026, 10, 22, 8, 0, seq * 30)).toISOString(), uptimeSeconds: seq * 30, freeMemory: 183_131 - seq, wifiSignal: -58 };
	const body = telemetry(facts, seq, { temperature: seq % 3 ? 22.5 + seq / 10 : null, humidity: seq % 3 ? 55.2 : null, status: seq % 3 ? "ok" : "checksum" });
	return { kind: "telemetry", topic: `${BASE}/telemetry`, payload: encode(body), qos: 1, retain: false, boot, seq };
}

function answer(id: string): Outgoing {
	return { kind: "response", topic: `${BASE}/responses`, payload: encode({ commandId: id, status: "ok", timestamp: "2026-11-22T08:00:00.000Z", type: "SET_POWER", result: { power: true, brightness: 80 } }), qos: 1, retain: false };
}

const strip = (m: Outgoing) => ({ kind: m.kind, topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain });

test("the default outbox (20 readings) and a few answers fit, and come back byte for byte, in order", (t) => {
	const waiting = [answer("a-1"), ...Array.from({ length: 20 }, (_, i) => reading(i + 1)), answer("a-2")];
	const { text, left } = packKept(waiting, { telemetry: 2, responses: 1 });
	t.deepEqual(left, []);
	t.true(text.length <= KEPT_BYTES, `${text.length} characters`);
	t.true(text.length < waiting.reduce((n, m) => n + m.payload.length, 0) / 2, "readings are packed");
	const kept = unpackKept(text)!;
	t.deepEqual(kept.messages.map(strip), waiting.map(strip));
	t.deepEqual(kept.messages.filter((m) => m.kind === "telemetry").map((m) => [m.boot, m.seq]), waiting.filter((m) => m.kind === "telemetry").map((m) => [3, m.seq]));
	t.deepEqual(kept.dropped, { telemetry: 2, responses: 1 });
});

test("over the budget: answers first, then the newest readings; the rest is named and counted", (t) => {
	const waiting = [...Array.from({ length: 200 }, (_, i) => reading(i + 1)), answer("late")];
	const { text, left } = packKept(waiting, { telemetry: 0, responses: 0 });
	t.true(text.length <= KEPT_BYTES);
	const kept = unpackKept(text)!;
	t.true(kept.messages.some((m) => m.kind === "response"), "the answer is kept");
	const seqs = kept.messages.filter((m) => m.kind === "telemetry").map((m) => m.seq!);
	t.true(seqs.length >= 20);
	t.is(seqs.at(-1), 200, "the newest reading is kept");
	t.deepEqual(left.map((m) => m.seq), Array.from({ length: 200 - seqs.length }, (_, i) => i + 1), "the oldest are left out, in order");
	t.deepEqual(kept.dropped, { telemetry: left.length, responses: 0 });
});

test("a payload that does not pack is kept as it is; unreadable text is refused, not misread", (t) => {
	const odd: Outgoing = { kind: "telemetry", topic: `${BASE}/telemetry`, payload: '{"seq":1,"extra":true}', qos: 1, retain: false };
	const alert: Outgoing = { kind: "alert", topic: `${BASE}/alert`, payload: '{"metric":"temperature"}', qos: 1, retain: false };
	const kept = unpackKept(packKept([odd, alert], { telemetry: 0, responses: 0 }).text)!;
	t.deepEqual(kept.messages.map(strip), [odd, alert].map(strip));
	for (const bad of ["", "not json", "[]", '{"v":2,"d":[0,0],"m":[]}', '{"v":1,"d":[0],"m":[]}', '{"v":1,"d":[0,0],"m":[["t","telemetry",1,0,[[1,2]]]]}', '{"v":1,"d":[0,0],"m":[["t","k",2,0,[]]]}']) {
		t.is(unpackKept(bad), undefined, bad);
	}
});

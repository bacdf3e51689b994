/*
 * Planned restarts: every restart the firmware decides itself (the watchdog, a RESET command,
 * later an OTA update) goes through restart(), which keeps what is waiting to be sent, then the
 * reason, then calls System.restart(). The next boot puts the kept messages back before it
 * publishes anything new; they still carry their own (boot, seq), so a backend files them under
 * the boot that sampled them.
 *
 * Kept: every message not yet acknowledged by the broker (answers, telemetry, alerts; not the
 * status, which the next boot announces afresh), in one store key of at most KEPT_BYTES
 * characters: one flash write per planned restart and one delete at the next boot. Telemetry is
 * kept packed (about 75 bytes a reading instead of 270), so the default outbox of 20 readings
 * fits with room for answers. When it does not all fit, answers and alerts go first, then the
 * newest readings; what is left out is reported before the restart (telemetry.dropped /
 * mqtt.dropped) and counted in the next boot's status (status.dropped).
 *
 * A power cut or a crash is not planned: what waited in RAM is lost, and the gaps in (boot, seq)
 * show exactly which readings.
 */

import type { Logger } from "./events";
import { encode, packTelemetry, unpackTelemetry, type Dropped, type Telemetry } from "./messages";
import type { Outgoing } from "./outbox";
import type { Persisted } from "./persistence";
import type { System } from "./ports";

/** Largest text kept across a planned restart (ESP32 NVS takes about 4000 bytes per value). */
export const KEPT_BYTES = 3000;

export interface Kept {
	messages: Outgoing[];
	/** Drops reported by the previous boot (carried across the restart). */
	dropped: Dropped;
}

/** One stored message: a packed reading, or the payload as it is. */
type Item = unknown[] | string;
/** Consecutive messages with the same topic, kind, QoS and retain flag. */
type Group = [topic: string, kind: string, qos: 0 | 1, retain: 0 | 1, items: Item[]];

function itemOf(message: Outgoing): Item {
	if (message.kind !== "telemetry") return message.payload;
	try {
		const packed = packTelemetry(JSON.parse(message.payload) as Telemetry);
		const back = unpackTelemetry(JSON.parse(JSON.stringify(packed)));
		return back && encode(back) === message.payload ? packed : message.payload;
	}
	catch {
		return message.payload;
	}
}

function payloadOf(kind: string, item: unknown): string | undefined {
	if (typeof item === "string") return item;
	const t = kind === "telemetry" ? unpackTelemetry(item) : undefined;
	return t ? encode(t) : undefined;
}

function serialize(messages: readonly Outgoing[], items: readonly Item[], dropped: Dropped): string {
	const groups: Group[] = [];
	messages.forEach((m, i) => {
		const last = groups[groups.length - 1];
		const retain = m.retain ? 1 : 0;
		const qos = m.qos === 0 ? 0 : 1;
		if (last && last[0] === m.topic && last[1] === m.kind && last[2] === qos && last[3] === retain) last[4].push(items[i]);
		else groups.push([m.topic, m.kind, qos, retain, [items[i]]]);
	});
	return JSON.stringify({ v: 1, d: [dropped.telemetry, dropped.responses], m: groups });
}

/**
 * Chooses what fits in `budget` characters: non-telemetry first, then the newest readings.
 * Returns the text and, in their original order, the messages left out.
 */
export function packKept(messages: readonly Outgoing[], dropped: Dropped, budget = KEPT_BYTES): { text: string; left: Outgoing[] } {
	const items = messages.map(itemOf);
	const order = messages.map((_, i) => i).filter((i) => messages[i].kind !== "telemetry");
	for (let i = messages.length - 1; i >= 0; i--) if (messages[i].kind === "telemetry") order.push(i);
	// An estimate (each item, each kind of group once); the text is checked below.
	const keep: number[] = [];
	const groups = new Set<string>();
	let size = 40;
	for (const i of order) {
		const m = messages[i];
		const group = `${m.topic} ${m.kind}`;
		const cost = JSON.stringify(items[i]).length + 1 + (groups.has(group) ? 0 : group.length + 16);
		if (size + cost > budget) continue;
		keep.push(i);
		groups.add(group);
		size += cost;
	}
	for (;;) {
		const kept = new Set(keep);
		const left = messages.filter((_, i) => !kept.has(i));
		const counts = { telemetry: dropped.telemetry + left.filter((m) => m.kind === "telemetry").length, responses: dropped.responses + left.filter((m) => m.kind === "response").length };
		const text = serialize(messages.filter((_, i) => kept.has(i)), items.filter((_, i) => kept.has(i)), counts);
		// Groups split by other messages cost more than estimated: then the least important goes too.
		if (text.length <= budget || !keep.length) return { text, left };
		keep.pop();
	}
}

/** Sets a reading's boot and seq from its payload (for the events about it). */
function identify(message: Outgoing): void {
	try {
		const t = JSON.parse(message.payload) as Partial<Telemetry>;
		if (typeof t.boot === "number") message.boot = t.boot;
		if (typeof t.seq === "number") message.seq = t.seq;
	}
	catch {
		// Not JSON: sent as it is, without boot and seq in its events.
	}
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0;

/** The kept messages; undefined when the text is not what packKept() writes. */
export function unpackKept(text: string): Kept | undefined {
	let data: unknown;
	try {
		data = JSON.parse(text);
	}
	catch {
		return undefined;
	}
	const o = data as { v?: unknown; d?: unknown; m?: unknown };
	if (!o || typeof o !== "object" || o.v !== 1 || !Array.isArray(o.d) || !isCount(o.d[0]) || !isCount(o.d[1]) || !Array.isArray(o.m)) return undefined;
	const messages: Outgoing[] = [];
	for (const group of o.m as unknown[]) {
		if (!Array.isArray(group) || group.length !== 5) return undefined;
		const [topic, kind, qos, retain, items] = group as unknown[];
		if (typeof topic !== "string" || typeof kind !== "string" || (qos !== 0 && qos !== 1) || (retain !== 0 && retain !== 1) || !Array.isArray(items)) return undefined;
		for (const item of items) {
			const payload = payloadOf(kind, item);
			if (payload === undefined) return undefined;
			const message: Outgoing = { topic, kind, payload, qos, retain: retain === 1 };
			if (kind === "telemetry") identify(message);
			messages.push(message);
		}
	}
	return { messages, dropped: { telemetry: o.d[0], responses: o.d[1] } };
}

export interface PlannedRestartOptions {
	persisted: Persisted;
	system: System;
	log: Logger;
	/** Reports a message that could not be kept (before the restart). */
	onDropped(message: Outgoing, reason: string): void;
}

export class PlannedRestart {
	readonly #o: PlannedRestartOptions;

	constructor(options: PlannedRestartOptions) {
		this.#o = options;
	}

	/** What the previous boot kept for this one (read once). */
	take(): Kept | undefined {
		const text = this.#o.persisted.takeKept();
		if (text === undefined) return undefined;
		const kept = unpackKept(text);
		if (!kept) this.#o.log.warn("store.warning", { key: "kept", reason: "the messages kept across the last restart are unreadable; they are lost" });
		return kept;
	}

	/** Keeps `waiting` (bounded) and the reason, then restarts. */
	restart(reason: string, waiting: readonly Outgoing[], dropped: Dropped): void {
		const { text, left } = packKept(waiting, dropped);
		for (const message of left) this.#o.onDropped(message, `planned restart: over the ${KEPT_BYTES}-byte budget for kept messages`);
		if (waiting.length || dropped.telemetry || dropped.responses) this.#o.persisted.saveKept(text);
		this.#o.persisted.saveRebootReason(reason);
		this.#o.log.info("restart.planned", { reason, kept: waiting.length - left.length, dropped: left.length || undefined });
		this.#o.system.restart(reason);
	}
}

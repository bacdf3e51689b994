/*
 * The JSON messages the device sends, in the smart-home backend's protocol: telemetry, status
 * (and the will, the same shape with online:false), heartbeat, command responses and alerts.
 * Builders return plain objects; `encode` turns them into the payload string.
 *
 * `boot` (the persisted boot counter) beside `seq` (1, 2, ... in each boot) makes (boot, seq)
 * the key that tells a restart from a duplicate: a backend de-duplicates on it and counts the
 * readings it never got from the gaps in seq.
 */

import type { RemoteConfig } from "./settings";

export interface Reading {
	temperature: number | null;
	humidity: number | null;
	/** "ok", or why there is no value (e.g. "checksum", "no_response"). */
	status: string;
}

export interface DeviceFacts {
	deviceId: string;
	/** This boot's number (the persisted boot counter). */
	boot: number;
	firmwareVersion: string;
	/** null until the clock is set. */
	timestamp: string | null;
	uptimeSeconds: number;
	freeMemory: number | null;
	wifiSignal: number | null;
}

export interface Telemetry {
	timestamp: string | null;
	deviceId: string;
	boot: number;
	seq: number;
	sensors: { temperature: number | null; humidity: number | null };
	metadata: { firmwareVersion: string; signalStrength: number | null; freeMemory: number | null; sensorStatus: string };
}

export function telemetry(facts: DeviceFacts, seq: number, reading: Reading): Telemetry {
	return {
		timestamp: facts.timestamp,
		deviceId: facts.deviceId,
		boot: facts.boot,
		seq,
		sensors: { temperature: reading.temperature, humidity: reading.humidity },
		metadata: {
			firmwareVersion: facts.firmwareVersion,
			signalStrength: facts.wifiSignal,
			freeMemory: facts.freeMemory,
			sensorStatus: reading.status,
		},
	};
}

/**
 * Telemetry as a flat array, a third of its JSON size, for keeping it across a planned restart;
 * unpackTelemetry() gives back the same object (encode() of both is the same text).
 */
export function packTelemetry(t: Telemetry): unknown[] {
	const m = t.metadata;
	return [t.timestamp === null ? null : Date.parse(t.timestamp), t.deviceId, t.boot, t.seq, t.sensors.temperature, t.sensors.humidity, m.firmwareVersion, m.signalStrength, m.freeMemory, m.sensorStatus];
}

const num = (v: unknown): v is number => typeof v === "number" && isFinite(v);
const numOrNull = (v: unknown): v is number | null => v === null || num(v);

export function unpackTelemetry(a: unknown): Telemetry | undefined {
	if (!Array.isArray(a) || a.length !== 10) return undefined;
	const [time, deviceId, boot, seq, temperature, humidity, firmwareVersion, signalStrength, freeMemory, sensorStatus] = a as unknown[];
	if (!numOrNull(time) || typeof deviceId !== "string" || !num(boot) || !num(seq) || !numOrNull(temperature) || !numOrNull(humidity)) return undefined;
	if (typeof firmwareVersion !== "string" || !numOrNull(signalStrength) || !numOrNull(freeMemory) || typeof sensorStatus !== "string") return undefined;
	return {
		timestamp: time === null ? null : new Date(time).toISOString(),
		deviceId,
		boot,
		seq,
		sensors: { temperature, humidity },
		metadata: { firmwareVersion, signalStrength, freeMemory, sensorStatus },
	};
}

/** The sensor values of a telemetry payload; undefined when it is not one. */
export function sensorsOf(payload: string): Telemetry["sensors"] | undefined {
	try {
		const sensors = (JSON.parse(payload) as Partial<Telemetry>).sensors;
		return sensors && typeof sensors === "object" ? sensors : undefined;
	}
	catch {
		return undefined;
	}
}

/** Messages this boot could not deliver, as the status reports them (counts since boot). */
export interface Dropped {
	/** Readings dropped (outbox full, or over the budget of a planned restart); their seqs are gaps. */
	telemetry: number;
	/** Commands neither executed nor answered because answers were waiting beyond their limit. */
	responses: number;
}

export interface StatusExtras {
	rebootReason: string;
	clientId: string;
	power: { on: boolean; brightness: number };
	config: RemoteConfig;
	dropped: Dropped;
	/** Recent problems, newest last. */
	errors: string[];
}

export interface Status {
	timestamp: string | null;
	deviceId: string;
	online: boolean;
	status: {
		uptime: number;
		boot: number;
		freeMemory: number | null;
		wifiSignal: number | null;
		firmwareVersion: string;
		rebootReason: string;
		clientId: string;
		power: { on: boolean; brightness: number };
		config: RemoteConfig;
		dropped: Dropped;
	};
	errors: string[];
}

export function status(facts: DeviceFacts, online: boolean, extras: StatusExtras): Status {
	return {
		timestamp: facts.timestamp,
		deviceId: facts.deviceId,
		online,
		status: {
			uptime: facts.uptimeSeconds,
			boot: facts.boot,
			freeMemory: facts.freeMemory,
			wifiSignal: facts.wifiSignal,
			firmwareVersion: facts.firmwareVersion,
			rebootReason: extras.rebootReason,
			clientId: extras.clientId,
			power: extras.power,
			config: extras.config,
			dropped: extras.dropped,
		},
		errors: extras.errors,
	};
}

export interface Heartbeat {
	timestamp: string | null;
	deviceId: string;
	boot: number;
	uptime: number;
	freeMemory: number | null;
	wifiSignal: number | null;
}

export function heartbeat(facts: DeviceFacts): Heartbeat {
	return { timestamp: facts.timestamp, deviceId: facts.deviceId, boot: facts.boot, uptime: facts.uptimeSeconds, freeMemory: facts.freeMemory, wifiSignal: facts.wifiSignal };
}

export interface CommandResponse {
	commandId: string | null;
	correlationId?: string;
	type?: string;
	status: "ok" | "error";
	error?: string;
	timestamp: string | null;
	result?: Record<string, unknown>;
}

export function response(fields: CommandResponse): CommandResponse {
	const out: CommandResponse = { commandId: fields.commandId, status: fields.status, timestamp: fields.timestamp };
	if (fields.correlationId !== undefined) out.correlationId = fields.correlationId;
	if (fields.type !== undefined) out.type = fields.type;
	if (fields.error !== undefined) out.error = fields.error;
	if (fields.result !== undefined) out.result = fields.result;
	return out;
}

export interface Alert {
	timestamp: string | null;
	deviceId: string;
	metric: string;
	value: number;
	threshold: number;
	state: "raised" | "cleared";
	reason?: string;
}

export function alert(facts: DeviceFacts, metric: string, value: number, threshold: number, state: "raised" | "cleared", reason?: string): Alert {
	const out: Alert = { timestamp: facts.timestamp, deviceId: facts.deviceId, metric, value, threshold, state };
	if (reason) out.reason = reason;
	return out;
}

export function encode(message: object): string {
	return JSON.stringify(message);
}

/** Keeps the status message small: at most `count` errors of at most `length` characters. */
export function trimErrors(errors: readonly string[], count = 5, length = 96): string[] {
	return errors.slice(-count).map((e) => (e.length > length ? e.slice(0, length - 3) + "..." : e));
}

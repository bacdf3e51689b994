/*
 * The JSON messages the device sends, in the smart-home backend's protocol: telemetry, status
 * (and the will, the same shape with online:false), heartbeat, command responses and alerts.
 * Builders return plain objects; `encode` turns them into the payload string.
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
	seq: number;
	sensors: { temperature: number | null; humidity: number | null };
	metadata: { firmwareVersion: string; signalStrength: number | null; freeMemory: number | null; sensorStatus: string };
}

export function telemetry(facts: DeviceFacts, seq: number, reading: Reading): Telemetry {
	return {
		timestamp: facts.timestamp,
		deviceId: facts.deviceId,
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

export interface StatusExtras {
	rebootReason: string;
	clientId: string;
	power: { on: boolean; brightness: number };
	config: RemoteConfig;
	/** Recent problems, newest last. */
	errors: string[];
}

export interface Status {
	timestamp: string | null;
	deviceId: string;
	online: boolean;
	status: {
		uptime: number;
		freeMemory: number | null;
		wifiSignal: number | null;
		firmwareVersion: string;
		rebootReason: string;
		clientId: string;
		power: { on: boolean; brightness: number };
		config: RemoteConfig;
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
			freeMemory: facts.freeMemory,
			wifiSignal: facts.wifiSignal,
			firmwareVersion: facts.firmwareVersion,
			rebootReason: extras.rebootReason,
			clientId: extras.clientId,
			power: extras.power,
			config: extras.config,
		},
		errors: extras.errors,
	};
}

export interface Heartbeat {
	timestamp: string | null;
	deviceId: string;
	uptime: number;
	freeMemory: number | null;
	wifiSignal: number | null;
}

export function heartbeat(facts: DeviceFacts): Heartbeat {
	return { timestamp: facts.timestamp, deviceId: facts.deviceId, uptime: facts.uptimeSeconds, freeMemory: facts.freeMemory, wifiSignal: facts.wifiSignal };
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

/*
 * Commands from the backend: parsing and validation (pure), and the memory that makes a command
 * redelivered by QoS 1 (same commandId) answered again but executed once.
 *
 * Wire forms:
 * - commands topic: {"commandId","timestamp","type","payload",...,"correlationId"?}
 * - tenant command/<type> topics: the type is the last topic level; the JSON body is optional
 * - light/control topic: the text ON or OFF
 */

import { utf8Decode } from "bytes";
import { deepFreeze } from "frozen";

export type Command =
	| { type: "SET_POWER"; power: boolean; brightness?: number }
	| { type: "RESET" }
	| { type: "ALERT_RESET" }
	| { type: "ROTATE_CREDENTIALS"; password: string; username?: string }
	| { type: "LIGHT"; on: boolean };

export interface Envelope {
	commandId?: string;
	correlationId?: string;
	/** The type as the sender wrote it. */
	typeName?: string;
}

export type Parsed = { ok: true; command: Command; envelope: Envelope } | { ok: false; reason: string; envelope: Envelope };

/** Largest command payload accepted (the MQTT buffer bounds it anyway). */
export const MAX_COMMAND_BYTES = 768;

const TYPE_ALIASES: Record<string, Command["type"] | undefined> = deepFreeze({
	SET_POWER: "SET_POWER",
	RESET: "RESET",
	REBOOT: "RESET",
	RESTART: "RESET",
	ALERT_RESET: "ALERT_RESET",
	ROTATE_CREDENTIALS: "ROTATE_CREDENTIALS",
});

const ID = /^[\x21-\x7e]{1,64}$/;

function reject(reason: string, envelope: Envelope = {}): Parsed {
	return { ok: false, reason, envelope };
}

function text(payload: Uint8Array): string | undefined {
	return utf8Decode(payload);
}

/** Size, UTF-8 and JSON checks shared by commands and config messages. */
export function parseJsonObject(payload: Uint8Array): { value?: Record<string, unknown>; reason?: string } {
	if (payload.length > MAX_COMMAND_BYTES) return { reason: `payload of ${payload.length} bytes is over the ${MAX_COMMAND_BYTES}-byte limit` };
	const body = text(payload);
	if (body === undefined) return { reason: "payload is not valid UTF-8" };
	let value: unknown;
	try {
		value = JSON.parse(body);
	}
	catch {
		return { reason: "payload is not valid JSON" };
	}
	if (!value || typeof value !== "object" || Array.isArray(value)) return { reason: "payload must be a JSON object" };
	return { value: value as Record<string, unknown> };
}

function envelopeOf(o: Record<string, unknown>): { envelope: Envelope; reason?: string } {
	const envelope: Envelope = {};
	if (o.commandId !== undefined) {
		if (typeof o.commandId !== "string" || !ID.test(o.commandId)) return { envelope, reason: "commandId must be a string of 1 to 64 visible characters" };
		envelope.commandId = o.commandId;
	}
	if (o.correlationId !== undefined) {
		if (typeof o.correlationId !== "string" || !ID.test(o.correlationId)) return { envelope, reason: "correlationId must be a string of 1 to 64 visible characters" };
		envelope.correlationId = o.correlationId;
	}
	if (typeof o.type === "string") envelope.typeName = o.type.slice(0, 32);
	return { envelope };
}

function payloadObject(o: Record<string, unknown>): Record<string, unknown> | undefined {
	const p = o.payload;
	if (p === undefined || p === null) return {};
	if (typeof p !== "object" || Array.isArray(p)) return undefined;
	return p as Record<string, unknown>;
}

function buildCommand(type: Command["type"], p: Record<string, unknown>): Command | string {
	switch (type) {
		case "SET_POWER": {
			if (typeof p.power !== "boolean") return "SET_POWER needs payload.power true or false";
			if (p.brightness === undefined) return { type, power: p.power };
			if (typeof p.brightness !== "number" || !Number.isInteger(p.brightness) || p.brightness < 0 || p.brightness > 100)
				return "SET_POWER payload.brightness must be an integer from 0 to 100";
			return { type, power: p.power, brightness: p.brightness };
		}
		case "ROTATE_CREDENTIALS": {
			if (typeof p.password !== "string" || p.password.length < 1 || p.password.length > 256) return "rotate_credentials needs payload.password (1 to 256 characters)";
			if (p.username === undefined) return { type, password: p.password };
			if (typeof p.username !== "string" || p.username.length < 1 || p.username.length > 128) return "rotate_credentials payload.username must be 1 to 128 characters";
			return { type, password: p.password, username: p.username };
		}
		case "RESET":
		case "ALERT_RESET":
		case "LIGHT":
			return type === "LIGHT" ? "LIGHT is not a commands-topic type" : { type };
	}
}

/** A message on the commands topic; `topicType` is the type taken from a command/<type> topic. */
export function parseCommand(payload: Uint8Array, topicType?: string): Parsed {
	let o: Record<string, unknown> = {};
	if (payload.length || topicType === undefined) {
		const json = parseJsonObject(payload);
		if (!json.value) return reject(json.reason!);
		o = json.value;
	}
	const { envelope, reason } = envelopeOf(o);
	if (reason) return reject(reason, envelope);
	const typeName = topicType ?? o.type;
	if (typeof typeName !== "string" || !typeName) return reject("missing command type", envelope);
	envelope.typeName = typeName.slice(0, 32);
	const type = TYPE_ALIASES[typeName.toUpperCase()];
	if (!type) return reject(`unknown command type "${envelope.typeName}"`, envelope);
	if (topicType === undefined && envelope.commandId === undefined) return reject("missing commandId", envelope);
	const p = payloadObject(o);
	if (!p) return reject("payload must be an object", envelope);
	const command = buildCommand(type, p);
	if (typeof command === "string") return reject(command, envelope);
	return { ok: true, command, envelope };
}

/** The light/control topic: ON or OFF. */
export function parseLight(payload: Uint8Array): Parsed {
	if (payload.length > 16) return reject("light/control payload must be ON or OFF");
	const body = text(payload)?.trim().toUpperCase();
	if (body === "ON" || body === "OFF") return { ok: true, command: { type: "LIGHT", on: body === "ON" }, envelope: { typeName: body } };
	return reject("light/control payload must be ON or OFF");
}

/** Remembers the last commands executed, with the response each got. */
export class CommandMemory<T> {
	readonly #limit: number;
	readonly #entries = new Map<string, T>();

	constructor(limit = 32) {
		this.#limit = limit;
	}

	get(commandId: string): T | undefined {
		return this.#entries.get(commandId);
	}

	remember(commandId: string, response: T): void {
		this.#entries.delete(commandId);
		this.#entries.set(commandId, response);
		while (this.#entries.size > this.#limit) {
			const oldest = this.#entries.keys().next().value as string;
			this.#entries.delete(oldest);
		}
	}
}

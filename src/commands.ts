/*
 * Commands from the backend: parsing and validation (pure). Every key of a message is looked up as
 * an own property only, so a name like "constructor" or "__proto__" never reaches Object.prototype.
 * (Executing each commandId at most once is src/command-log.ts's job.)
 *
 * Wire forms:
 * - commands topic: {"commandId","timestamp","type","payload",...,"correlationId"?}
 * - tenant command/<type> topics: the type is the last topic level; the JSON body is optional
 * - light/control topic: the text ON or OFF
 */

import { utf8Decode } from "bytes";
import { deepFreeze } from "frozen";
import { hasOwn } from "./settings";

export type Command =
	| { type: "SET_POWER"; power: boolean; brightness?: number }
	| { type: "RESET" }
	| { type: "ALERT_RESET" }
	| { type: "ROTATE_CREDENTIALS"; password: string; username?: string }
	| { type: "LIGHT"; on: boolean }
	/** Forgets what setup and the backend stored and opens setup mode (answered before it happens). */
	| { type: "FACTORY_RESET" };

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
	FACTORY_RESET: "FACTORY_RESET",
});

const ID = /^[\x21-\x7e]{1,64}$/;

/** The value of an own property of a message object; undefined for anything inherited. */
function field(o: Record<string, unknown>, key: string): unknown {
	return hasOwn(o, key) ? o[key] : undefined;
}

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
	const commandId = field(o, "commandId");
	if (commandId !== undefined) {
		if (typeof commandId !== "string" || !ID.test(commandId)) return { envelope, reason: "commandId must be a string of 1 to 64 visible characters" };
		envelope.commandId = commandId;
	}
	const correlationId = field(o, "correlationId");
	if (correlationId !== undefined) {
		if (typeof correlationId !== "string" || !ID.test(correlationId)) return { envelope, reason: "correlationId must be a string of 1 to 64 visible characters" };
		envelope.correlationId = correlationId;
	}
	const type = field(o, "type");
	if (typeof type === "string") envelope.typeName = type.slice(0, 32);
	return { envelope };
}

function payloadObject(o: Record<string, unknown>): Record<string, unknown> | undefined {
	const p = field(o, "payload");
	if (p === undefined || p === null) return {};
	if (typeof p !== "object" || Array.isArray(p)) return undefined;
	return p as Record<string, unknown>;
}

function buildCommand(type: Command["type"], p: Record<string, unknown>): Command | string {
	switch (type) {
		case "SET_POWER": {
			const power = field(p, "power");
			const brightness = field(p, "brightness");
			if (typeof power !== "boolean") return "SET_POWER needs payload.power true or false";
			if (brightness === undefined) return { type, power };
			if (typeof brightness !== "number" || !Number.isInteger(brightness) || brightness < 0 || brightness > 100)
				return "SET_POWER payload.brightness must be an integer from 0 to 100";
			return { type, power, brightness };
		}
		case "ROTATE_CREDENTIALS": {
			const password = field(p, "password");
			const username = field(p, "username");
			if (typeof password !== "string" || password.length < 1 || password.length > 256) return "rotate_credentials needs payload.password (1 to 256 characters)";
			if (username === undefined) return { type, password };
			if (typeof username !== "string" || username.length < 1 || username.length > 128) return "rotate_credentials payload.username must be 1 to 128 characters";
			return { type, password, username };
		}
		case "RESET":
		case "ALERT_RESET":
		case "FACTORY_RESET":
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
	const typeName = topicType ?? field(o, "type");
	if (typeof typeName !== "string" || !typeName) return reject("missing command type", envelope);
	envelope.typeName = typeName.slice(0, 32);
	const upper = typeName.toUpperCase();
	const type = hasOwn(TYPE_ALIASES, upper) ? TYPE_ALIASES[upper] : undefined;
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

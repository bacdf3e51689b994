/*
 * What comes from the backend: commands and remote configuration, each checked, executed at most
 * once and answered.
 *
 * A command is
 * - refused when it arrives as a retained message: a retained command would run again on every
 *   connection (a retained RESET reboots the device in a loop); retained config is state, not a
 *   command, and is applied (an unchanged value writes nothing);
 * - refused when it is malformed (with the reason);
 * - answered again, not executed, when its commandId is in the command log (src/command-log.ts);
 * - refused when the device cannot carry it out (e.g. rotate_credentials without password auth);
 * - not executed, and answered rate_limited, when too many answers wait (src/responses.ts);
 * - otherwise logged (its id, before it runs), executed and answered.
 * Every message with a commandId or correlationId gets an answer, within the limits of
 * src/responses.ts; one that cannot be answered is logged (command.rejected) and counted.
 *
 * When its answer has to wait (the client's in-flight window is full), the message's PUBACK waits
 * with it: receive() returns a thenable that the client awaits before acknowledging, resolved
 * when the answer is handed to the client. A broker that bounds the messages in flight to the
 * device then holds the rest of a flood on its side.
 */

import type { Message } from "mqttclient";
import { CommandLog } from "./command-log";
import { parseCommand, parseJsonObject, parseLight, type Command, type Envelope, type Parsed } from "./commands";
import type { Logger } from "./events";
import { encode, response as responseMessage, type CommandResponse } from "./messages";
import type { Outgoing } from "./outbox";
import type { Persisted } from "./persistence";
import { roomFor, type Room } from "./responses";
import { hasOwn, validateRemoteConfig, type RemoteConfig } from "./settings";
import type { Link } from "./supervisor";
import { classifyTopic, type TopicPlan } from "./topics";

export const RETAINED = "retained commands are not executed";
export const RATE_LIMITED = "rate_limited";

export interface Execution {
	error?: string;
	result?: Record<string, unknown>;
	/** Runs after the answer has been handed over (e.g. the restart of RESET). */
	after?: () => void;
}

export interface InboxOptions {
	log: Logger;
	persisted: Persisted;
	link: Link;
	topics(): TopicPlan;
	/** The timestamp for answers (null until the clock is set). */
	timestamp(): string | null;
	/** Why this device cannot carry out `command` now, if it cannot. */
	refuse(command: Command): string | undefined;
	execute(command: Command, envelope: Envelope): Execution;
	remoteConfig(): RemoteConfig;
	/** A valid config message: its value, and the fields whose value it changed (maybe none). */
	applyConfig(value: RemoteConfig, changed: string[]): void;
	/** After a config answer: the status echoes the configuration. */
	statusChanged(): void;
	/** A message that needed an answer got none (answers were waiting beyond their limit). */
	onUnanswered(): void;
}

export class Inbox {
	readonly #o: InboxOptions;
	readonly #log: CommandLog<CommandResponse>;
	/** Answers waiting to be sent -> the acknowledgements that wait for them. */
	readonly #acks = new Map<Outgoing, (() => void)[]>();
	/** The answer the message being handled waits for, if any. */
	#waiting: Outgoing | undefined;
	/** The newest answer that had to wait. */
	#newest: Outgoing | undefined;

	constructor(options: InboxOptions) {
		this.#o = options;
		this.#log = new CommandLog(options.persisted);
	}

	/** Handles one message; returns a thenable when its acknowledgement must wait for its answer. */
	receive(message: Message): PromiseLike<void> | undefined {
		this.#waiting = undefined;
		const where = classifyTopic(this.#o.topics(), message.topic);
		if (!where) {
			this.#o.log.warn("command.rejected", { reason: `message on ${message.topic}, a topic this device does not own`, topic: message.topic });
			return undefined;
		}
		if (where.kind === "config") this.#config(message.payload);
		else this.#command(where.kind === "light" ? parseLight(message.payload) : parseCommand(message.payload, where.rest), message.retain);
		const answer = this.#waiting;
		this.#waiting = undefined;
		if (!answer) return undefined;
		const acks = this.#acks;
		return {
			then: (acknowledge: () => void) => {
				const list = acks.get(answer);
				if (list) list.push(acknowledge);
				else acks.set(answer, [acknowledge]);
			},
		} as unknown as PromiseLike<void>;
	}

	/** An answer left its queue (to the client, or dropped and reported): the messages waiting for it may be acknowledged now. */
	released(answer: Outgoing): void {
		if (answer === this.#newest) this.#newest = undefined;
		const list = this.#acks.get(answer);
		if (!list) return;
		this.#acks.delete(answer);
		for (const acknowledge of list) acknowledge();
	}

	/** The connection is gone: its acknowledgements with it (the broker redelivers; the command log answers). */
	offline(): void {
		this.#acks.clear();
		this.#newest = undefined;
	}

	/** A message left unanswered still waits for the newest waiting answer before its PUBACK: the flow control holds. */
	#unanswered(): void {
		this.#waiting = this.#newest;
		this.#o.onUnanswered();
	}

	#command(parsed: Parsed, retained: boolean): void {
		const envelope = parsed.envelope;
		this.#o.log.info("command.received", { type: envelope.typeName ?? "?", commandId: envelope.commandId, retained: retained || undefined });
		if (retained) return this.#reject(envelope, RETAINED, true);
		if (!parsed.ok) return this.#reject(envelope, parsed.reason);
		const room = this.#room(envelope);
		if (room === "none") return this.#reject(envelope, RATE_LIMITED);
		const id = envelope.commandId;
		if (id !== undefined && this.#log.has(id)) return this.#repeat(id, envelope);
		const refused = this.#o.refuse(parsed.command);
		if (refused) {
			this.#o.log.warn("command.completed", { type: parsed.command.type, commandId: id, status: "error", error: refused });
			this.#answer(envelope, "error", refused);
			return;
		}
		if (room === "reject") return this.#reject(envelope, RATE_LIMITED);
		this.#run(parsed.command, envelope);
	}

	/** Logs the id (before it runs), executes, answers. */
	#run(command: Command, envelope: Envelope): void {
		const id = envelope.commandId;
		if (id !== undefined) this.#log.record(id);
		const outcome = this.#o.execute(command, envelope);
		const answer = this.#answer(envelope, outcome.error ? "error" : "ok", outcome.error, outcome.result);
		if (id !== undefined && answer) this.#log.answered(id, answer);
		this.#o.log[outcome.error ? "warn" : "info"]("command.completed", { type: command.type, commandId: id, status: outcome.error ? "error" : "ok", error: outcome.error });
		outcome.after?.();
	}

	/** A command executed before: answered again (the same answer in this boot), not executed. */
	#repeat(id: string, envelope: Envelope): void {
		this.#o.log.info("command.duplicate", { commandId: id, type: envelope.typeName });
		const again = this.#log.response(id);
		if (again) this.#send(again);
		else this.#answer(envelope, "ok", undefined, { duplicate: true }); // executed before a restart: its answer is not kept
	}

	/** Refuses a command (nothing executed), with an answer when there is room for one; otherwise counts it. */
	#reject(envelope: Envelope, reason: string, retained?: boolean): void {
		const room = this.#room(envelope);
		this.#o.log.warn("command.rejected", { reason, commandId: envelope.commandId, type: envelope.typeName, retained, answered: room === "none" ? false : undefined });
		if (room === "none") this.#unanswered();
		else this.#answer(envelope, "error", reason);
	}

	/** What room there is for the answer this command needs ("answer" when it needs none). */
	#room(envelope: Envelope): Room {
		return needsAnswer(envelope) ? roomFor(this.#o.link.answersWaiting) : "answer";
	}

	/** Publishes an answer when there is an id to answer. */
	#answer(envelope: Envelope, status: "ok" | "error", error?: string, result?: Record<string, unknown>): CommandResponse | undefined {
		if (!needsAnswer(envelope)) return undefined;
		const fields: CommandResponse = { commandId: envelope.commandId ?? null, status, timestamp: this.#o.timestamp() };
		if (envelope.correlationId !== undefined) fields.correlationId = envelope.correlationId;
		if (envelope.typeName !== undefined) fields.type = envelope.typeName;
		if (error !== undefined) fields.error = error;
		if (result !== undefined) fields.result = result;
		const answer = responseMessage(fields);
		this.#send(answer);
		return answer;
	}

	#send(answer: CommandResponse): void {
		const message: Outgoing = { kind: "response", topic: this.#o.topics().response, payload: encode(answer), qos: 1, retain: false };
		if (this.#o.link.publish(message, true) === "queued") this.#waiting = this.#newest = message;
	}

	/* Remote configuration ------------------------------------------------------------------ */

	#config(payload: Uint8Array): void {
		const room = roomFor(this.#o.link.answersWaiting);
		const parsed = parseConfigMessage(payload);
		if (typeof parsed === "string") return this.#rejectConfig(parsed, room);
		if (room !== "answer") return this.#rejectConfig(RATE_LIMITED, room);
		const check = validateRemoteConfig(parsed.config, this.#o.remoteConfig());
		if (!check.value) return this.#rejectConfig(check.errors.join("; "), room);
		this.#o.applyConfig(check.value, check.changed);
		this.#o.log.info("config.applied", { changed: check.changed, ignored: check.ignored.length ? check.ignored : undefined });
		const result: Record<string, unknown> = { changed: check.changed };
		if (check.ignored.length) result.ignored = check.ignored;
		this.#configAnswer("ok", undefined, result);
		this.#o.statusChanged();
	}

	#rejectConfig(reason: string, room: Room): void {
		this.#o.log.warn("config.rejected", { reason, answered: room === "none" ? false : undefined });
		if (room === "none") this.#unanswered();
		else this.#configAnswer("error", reason);
	}

	#configAnswer(status: "ok" | "error", error?: string, result?: Record<string, unknown>): void {
		const fields: CommandResponse = { commandId: null, type: "config", status, timestamp: this.#o.timestamp() };
		if (error !== undefined) fields.error = error;
		if (result !== undefined) fields.result = result;
		this.#send(responseMessage(fields));
	}
}

function needsAnswer(envelope: Envelope): boolean {
	return envelope.commandId !== undefined || envelope.correlationId !== undefined;
}

/** A config message: a JSON object with a `config` object (an own property). Returns the reason when it is not. */
function parseConfigMessage(payload: Uint8Array): { config: unknown } | string {
	const json = parseJsonObject(payload);
	if (!json.value) return json.reason!;
	if (!hasOwn(json.value, "config") || json.value.config === undefined) return "missing config object";
	return { config: json.value.config };
}

/*
 * Publishing: what goes to the client now, what waits, and where.
 *
 * Three places for what cannot be sent at once (offline, a planned reconnect, the in-flight
 * window full, the socket busy), drained in this order when the client can take more:
 * - answers (command and config responses): their own bounded queue (src/responses.ts);
 * - the status: one slot; a newer status replaces a waiting one (it is retained state, the
 *   newest says everything the older did);
 * - telemetry and alerts: the outbox (src/outbox.ts), bounded, oldest dropped first and reported.
 * Messages on a topic with a backlog wait their turn, so each topic keeps its order.
 *
 * QoS 1 messages handed to the client are tracked until their PUBACK, so a planned restart can
 * keep them too (waiting()); they are resent after the reboot as new messages.
 */

import type { MQTTClient } from "mqttclient";
import type { Logger } from "./events";
import { Outbox, type Outgoing } from "./outbox";
import { AnswerQueue, ANSWERS_WAITING } from "./responses";

export type PublishResult = "sent" | "queued" | "dropped";

type Lane = "answers" | "status" | "outbox";

export interface PublisherOptions {
	client: MQTTClient;
	/** Whether the connection may be used now (not during a planned reconnect). */
	online(): boolean;
	log: Logger;
	outboxSize: number;
	onSent?(message: Outgoing, bytes: number): void;
	onDropped?(message: Outgoing, reason: string): void;
}

/** Refusals that mean "not now" rather than "never". */
function transient(code: string): boolean {
	return code === "busy" || code === "inflight_full" || code === "not_connected";
}

function laneOf(message: Outgoing): Lane {
	return message.kind === "response" ? "answers" : message.kind === "status" ? "status" : "outbox";
}

export class Publisher {
	readonly #o: PublisherOptions;
	readonly #outbox: Outbox;
	readonly #answers = new AnswerQueue();
	#status: Outgoing | undefined;
	/** QoS 1 messages handed to the client, by packet id, until acknowledged. */
	readonly #unacked = new Map<number, Outgoing>();

	constructor(options: PublisherOptions) {
		this.#o = options;
		this.#outbox = new Outbox(options.outboxSize);
	}

	get outboxSize(): number {
		return this.#outbox.size;
	}

	get answersWaiting(): number {
		return this.#answers.size;
	}

	/** Sends now if possible; otherwise keeps it (when `queue` and QoS 1) in its place, or drops it. */
	publish(message: Outgoing, queue: boolean): PublishResult {
		const lane = laneOf(message);
		if (this.#o.online() && !this.#backlog(lane, message.topic)) {
			const outcome = this.#o.client.publish(message.topic, message.payload, { qos: message.qos, retain: message.retain });
			if (outcome.ok) {
				this.#sent(message, outcome.id, outcome.bytes);
				return "sent";
			}
			if (!transient(outcome.error.code)) {
				this.#o.log.error("mqtt.warning", { code: outcome.error.code, message: outcome.error.message, fix: outcome.error.fix });
				this.#o.onDropped?.(message, outcome.error.message);
				return "dropped";
			}
		}
		if (!queue || message.qos === 0) {
			this.#o.onDropped?.(message, this.#o.online() ? "the connection is busy" : "offline");
			return "dropped";
		}
		return this.#keep(lane, message);
	}

	/** Sends what waits, answers first, as long as the client takes it. */
	drain(): void {
		while (this.#o.online()) {
			const next = this.#answers.peek() ?? this.#status ?? this.#outbox.peek();
			if (!next || !this.#o.client.canPublish(next.qos)) return;
			const outcome = this.#o.client.publish(next.topic, next.payload, { qos: next.qos, retain: next.retain });
			if (!outcome.ok && transient(outcome.error.code)) return;
			this.#take(laneOf(next));
			if (outcome.ok) this.#sent(next, outcome.id, outcome.bytes);
			else this.#o.onDropped?.(next, outcome.error.message);
		}
	}

	/** The broker acknowledged packet `id`; a reason code >= 0x80 (MQTT 5) means it refused the message. */
	delivered(id: number, reasonCode = 0): void {
		const message = this.#unacked.get(id);
		this.#unacked.delete(id);
		if (message && reasonCode >= 0x80) this.#o.onDropped?.(message, `refused by the broker (reason code 0x${reasonCode.toString(16)})`);
	}

	/**
	 * Everything not yet acknowledged, for a planned restart: per place, the messages handed to
	 * the client first, then those waiting; answers, then telemetry and alerts. The status is
	 * left out: the next boot announces a fresh one.
	 */
	waiting(): Outgoing[] {
		const unacked = [...this.#unacked.values()];
		return [
			...unacked.filter((m) => laneOf(m) === "answers"), ...this.#answers.all(),
			...unacked.filter((m) => laneOf(m) === "outbox"), ...this.#outbox.all(),
		];
	}

	/** Puts back what a planned restart kept, before anything new is published. */
	restore(messages: readonly Outgoing[]): void {
		for (const message of messages) if (laneOf(message) !== "status") this.#keep(laneOf(message), message);
	}

	#sent(message: Outgoing, id: number, bytes: number): void {
		if (message.qos > 0 && id > 0) this.#unacked.set(id, message);
		this.#o.onSent?.(message, bytes);
	}

	#backlog(lane: Lane, topic: string): boolean {
		if (lane === "answers") return this.#answers.size > 0;
		if (lane === "status") return this.#status !== undefined;
		return this.#outbox.holds(topic);
	}

	#keep(lane: Lane, message: Outgoing): PublishResult {
		if (lane === "status") {
			this.#status = message;
			return "queued";
		}
		if (lane === "answers") {
			if (this.#answers.push(message)) return "queued";
			this.#o.onDropped?.(message, `${ANSWERS_WAITING} answers are already waiting`);
			return "dropped";
		}
		const dropped = this.#outbox.push(message);
		if (dropped) this.#o.onDropped?.(dropped, `outbox full (${this.#outbox.limit} messages)`);
		return dropped === message ? "dropped" : "queued";
	}

	#take(lane: Lane): void {
		if (lane === "answers") this.#answers.shift();
		else if (lane === "status") this.#status = undefined;
		else this.#outbox.shift();
	}
}

/*
 * Telemetry (and alerts) kept while they cannot be sent (offline, a planned reconnect, a full
 * in-flight window), oldest first, bounded: when full, the oldest reading is dropped and reported
 * (an alert only when no reading is left to drop: readings never push out an alert).
 * Answers to the backend and the status wait elsewhere (src/publisher.ts), never here.
 */

import type { QoS } from "mqttclient";

export interface Outgoing {
	topic: string;
	payload: string;
	qos: QoS;
	retain: boolean;
	/** What it is, for events (e.g. "telemetry"). */
	kind: string;
	/** Telemetry: the boot and sequence number it carries, its de-duplication key. */
	boot?: number;
	seq?: number;
}

/** Messages waiting to be sent, oldest first: what every queue of the publisher has in common. */
export class MessageQueue {
	protected readonly items: Outgoing[] = [];

	get size(): number {
		return this.items.length;
	}

	/** Whether a message for `topic` is waiting (a newer one must queue behind it). */
	holds(topic: string): boolean {
		return this.items.some((m) => m.topic === topic);
	}

	peek(): Outgoing | undefined {
		return this.items[0];
	}

	shift(): Outgoing | undefined {
		return this.items.shift();
	}

	/** The messages waiting, oldest first (a copy). */
	all(): Outgoing[] {
		return this.items.slice();
	}
}

export class Outbox extends MessageQueue {
	readonly #limit: number;

	constructor(limit: number) {
		super();
		this.#limit = limit;
	}

	get limit(): number {
		return this.#limit;
	}

	/** Adds a message; returns the one dropped to make room, if any (the oldest reading first). */
	push(message: Outgoing): Outgoing | undefined {
		if (this.#limit <= 0) return message;
		this.items.push(message);
		if (this.items.length <= this.#limit) return undefined;
		const reading = this.items.findIndex((m) => m.kind === "telemetry");
		return this.items.splice(reading >= 0 ? reading : 0, 1)[0];
	}
}

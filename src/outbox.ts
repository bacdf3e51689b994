/*
 * Messages kept while they cannot be sent (offline, a planned reconnect, a full in-flight window),
 * oldest first, bounded: when full, the oldest is dropped and reported.
 */

import type { QoS } from "mqttclient";

export interface Outgoing {
	topic: string;
	payload: string;
	qos: QoS;
	retain: boolean;
	/** What it is, for events (e.g. "telemetry"). */
	kind: string;
	seq?: number;
}

export class Outbox {
	readonly #limit: number;
	#items: Outgoing[] = [];

	constructor(limit: number) {
		this.#limit = limit;
	}

	get size(): number {
		return this.#items.length;
	}

	get limit(): number {
		return this.#limit;
	}

	/** Adds a message; returns the one dropped to make room, if any. */
	push(message: Outgoing): Outgoing | undefined {
		if (this.#limit <= 0) return message;
		this.#items.push(message);
		return this.#items.length > this.#limit ? this.#items.shift() : undefined;
	}

	/** Whether a message for `topic` is waiting (a newer one must queue behind it). */
	holds(topic: string): boolean {
		return this.#items.some((m) => m.topic === topic);
	}

	peek(): Outgoing | undefined {
		return this.#items[0];
	}

	shift(): Outgoing | undefined {
		return this.#items.shift();
	}
}

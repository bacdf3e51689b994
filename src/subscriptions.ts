/*
 * The subscriptions of a connection. Each connection asks for all of them once it is up. One the
 * broker refuses (a SUBACK reason code >= 0x80: an ACL, a quota) would leave the device deaf to
 * that topic, so it is reported as an error (mqtt.subscribe_failed, with the topic and the code)
 * and asked for again with backoff (the reconnect floor and cap, with jitter) for as long as the
 * connection lasts; the next connection starts over.
 */

import { Backoff } from "backoff";
import { deepFreeze } from "frozen";
import type { Diagnostic, Outcome, Subscription } from "mqttclient";
import type { Logger } from "./events";
import type { Clock, TimerHandle } from "./ports";

export interface SubscriptionsOptions {
	clock: Clock;
	log: Logger;
	random(): number;
	/** Backoff floor and cap in ms (read at each connection). */
	backoff(): { floor: number; cap: number };
	subscribe(subscriptions: Subscription[]): Outcome;
	/** Adds a problem to the status's error list. */
	note(problem: string): void;
	/** A subscription the client refused locally (not connected, busy...). */
	warn(d: Diagnostic): void;
}

const REFUSAL_FIX: Record<number, string> = deepFreeze({
	0x87: "the broker's ACL does not let this client subscribe there: allow it (Mosquitto: the acl file or the dynamic security role's subscribePattern; EMQX: the authorization rules)",
	0x8f: "the broker does not accept this topic filter: check the topic scheme",
	0x97: "the broker's quota for this client is exhausted",
	0xa2: "the broker does not allow wildcard subscriptions: use a topic scheme without #",
});

export class Subscriptions {
	readonly #o: SubscriptionsOptions;
	#backoff: Backoff | undefined;
	#timer: TimerHandle | undefined;
	#retryAt = 0;
	#refused: Subscription[] = [];

	constructor(options: SubscriptionsOptions) {
		this.#o = options;
	}

	/** A connection is up: asks for every subscription. */
	request(subscriptions: Subscription[]): void {
		this.stop();
		const { floor, cap } = this.#o.backoff();
		this.#backoff = new Backoff({ floor, cap, random: this.#o.random });
		this.#send(subscriptions);
	}

	/** The broker's SUBACK: refused subscriptions are reported and asked for again later. */
	acknowledged(codes: readonly number[], subscriptions: readonly Subscription[]): void {
		subscriptions.forEach((s, i) => {
			const code = codes[i] ?? 0x80;
			if (code < 0x80) {
				this.#o.log.info("mqtt.subscribed", { topic: s.topic, qos: code });
				return;
			}
			this.#refused.push(s);
			const retryMs = this.#retry();
			const fix = REFUSAL_FIX[code] ?? "the broker refused it (an ACL or a limit): see the broker's log";
			this.#o.log.error("mqtt.subscribe_failed", { topic: s.topic, reasonCode: code, code: "subscribe_refused", retryMs, fix });
			this.#o.note(`subscription to ${s.topic} refused (0x${code.toString(16)}); retrying`);
		});
	}

	/** The connection is gone (or the device stops): no more retries on it. */
	stop(): void {
		if (this.#timer !== undefined) this.#o.clock.clear(this.#timer);
		this.#timer = undefined;
		this.#refused = [];
		this.#backoff = undefined;
	}

	#send(subscriptions: Subscription[]): void {
		const outcome = this.#o.subscribe(subscriptions);
		if (outcome.ok) return;
		if (outcome.error.code === "not_connected") return; // the next connection asks again
		this.#o.warn(outcome.error);
		this.#refused.push(...subscriptions);
		this.#retry();
	}

	/** Schedules one retry of every refused subscription (unless one is scheduled); returns the time until it. */
	#retry(): number {
		if (!this.#backoff) return 0;
		if (this.#timer !== undefined) return this.#retryAt - this.#o.clock.now();
		const delay = this.#backoff.next();
		this.#retryAt = this.#o.clock.now() + delay;
		this.#timer = this.#o.clock.set(() => {
			this.#timer = undefined;
			const again = this.#refused;
			this.#refused = [];
			if (again.length) this.#send(again);
		}, delay);
		return delay;
	}
}

/*
 * Answers to the backend (command and config responses) have their own bounded place: they never
 * share the telemetry outbox, so they are never dropped to make room for readings and never evict
 * one. While the client cannot take them (its in-flight window of QoS 1 messages is full, or the
 * connection is down), they wait here, in order, and go out before any waiting telemetry.
 *
 * Flow control first: while a command's answer waits here, its PUBACK waits too (src/inbox.ts),
 * so a broker that limits the QoS 1 messages in flight to a client (MQTT 5 Receive Maximum,
 * which the device sets to its in-flight window; Mosquitto's max_inflight_messages, 20, in
 * 3.1.1) holds the rest of a flood itself and every command is executed and answered.
 * (Mosquitto 2.0.11 refills its whole quota on every PUBACK: with it a flood still reaches the
 * limits below.)
 *
 * Beyond that (a broker without such a limit), the limits are explicit, never silent:
 * - fewer than EXECUTE_BELOW answers waiting: a command is executed and answered;
 * - from EXECUTE_BELOW to ANSWERS_WAITING: it is not executed and is answered
 *   {"status":"error","error":"rate_limited"} (the backend may send it again later);
 * - ANSWERS_WAITING answers waiting: it is neither executed nor answered; command.rejected is
 *   logged and the next status counts it (status.dropped.responses).
 * A command left unanswered still has its PUBACK wait for the newest waiting answer, so the
 * broker's limit keeps holding. An answer is 150 to 300 bytes: the queue holds at most about 9 KB.
 */

import { MessageQueue, type Outgoing } from "./outbox";

/** Answers that may wait for the connection (in addition to the client's in-flight window). */
export const ANSWERS_WAITING = 32;
/** Commands are executed only while fewer answers than this are waiting (above Mosquitto's 3.1.1 in-flight limit, 20). */
export const EXECUTE_BELOW = 24;

/** What can be done with one more message that needs an answer. */
export type Room = "answer" | "reject" | "none";

export function roomFor(waiting: number): Room {
	return waiting < EXECUTE_BELOW ? "answer" : waiting < ANSWERS_WAITING ? "reject" : "none";
}

/** The answers waiting, oldest first; bounded, and never evicting. */
export class AnswerQueue extends MessageQueue {
	/** Adds an answer; false (nothing changed) when ANSWERS_WAITING are already waiting. */
	push(message: Outgoing): boolean {
		if (this.items.length >= ANSWERS_WAITING) return false;
		this.items.push(message);
		return true;
	}
}

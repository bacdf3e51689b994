/*
 * The inbox on its own: the answer's place decides whether a command runs, and a message whose
 * answer has to wait is acknowledged (PUBACK) only once that answer leaves its queue.
 */

import test from "ava";
import type { Message } from "mqttclient";
import { Logger } from "../events";
import { Inbox, RATE_LIMITED } from "../inbox";
import type { Outgoing } from "../outbox";
import { Persisted } from "../persistence";
import type { Clock, LogRecord } from "../ports";
import { ANSWERS_WAITING, EXECUTE_BELOW } from "../responses";
import { defaultConfig, remoteView } from "../settings";
import type { Link } from "../supervisor";
import { planTopics } from "../topics";
import { MemoryStore } from "../../test-host/adapters/memory-store";

const TOPICS = planTopics("smarthome", { homeId: "h", deviceId: "d", tenantId: "t", clientId: "sensor_1", mac: "001122334455" });

function harness() {
	const records: LogRecord[] = [];
	const clock = { now: () => 0, wallTime: () => 0 } as unknown as Clock;
	const published: Outgoing[] = [];
	const state = { waiting: 0, queue: false, executed: [] as string[], unanswered: 0 };
	const link: Link = {
		online: true,
		get answersWaiting() { return state.waiting; },
		publish(message) {
			published.push(message);
			if (!state.queue) return "sent";
			state.waiting++;
			return "queued";
		},
		subscribe() {},
	};
	const inbox = new Inbox({
		log: new Logger(clock, (r) => records.push(r)),
		persisted: new Persisted(new MemoryStore(), () => {}),
		link,
		topics: () => TOPICS,
		timestamp: () => null,
		refuse: () => undefined,
		execute: (_command, envelope) => {
			state.executed.push(envelope.commandId ?? "?");
			return { result: {} };
		},
		remoteConfig: () => remoteView(defaultConfig()),
		applyConfig: () => {},
		statusChanged: () => {},
		onUnanswered: () => state.unanswered++,
	});
	const command = (id: string): Message => ({ topic: TOPICS.subscriptions[0].filter, payload: new TextEncoder().encode(JSON.stringify({ commandId: id, type: "alert_reset" })), qos: 1, retain: false, dup: false });
	return { inbox, state, published, records, command };
}

test("an answer sent at once: the command is acknowledged at once", (t) => {
	const { inbox, state, command } = harness();
	t.is(inbox.receive(command("a")), undefined);
	t.deepEqual(state.executed, ["a"]);
});

test("an answer that waits holds the PUBACK of its command until it leaves the queue", (t) => {
	const { inbox, state, published, command } = harness();
	state.queue = true;
	const pending = inbox.receive(command("b"));
	t.truthy(pending);
	let acked = 0;
	pending!.then(() => acked++);
	t.is(acked, 0, "not acknowledged while the answer waits");
	inbox.released(published[0]);
	t.is(acked, 1);
	inbox.released(published[0]);
	t.is(acked, 1, "once");
	const dropped = inbox.receive(command("c"));
	dropped!.then(() => acked++);
	inbox.offline();
	inbox.released(published[1]);
	t.is(acked, 1, "a closed connection's acknowledgements are forgotten");
});

test("answers waiting decide: execute, reject rate_limited, or count as unanswered (still holding the PUBACK)", (t) => {
	const { inbox, state, published, records, command } = harness();
	state.queue = true;
	state.waiting = EXECUTE_BELOW - 1;
	inbox.receive(command("run"));
	t.deepEqual(state.executed, ["run"]);
	t.is(state.waiting, EXECUTE_BELOW);
	inbox.receive(command("limited"));
	t.deepEqual(state.executed, ["run"], "not executed");
	t.like(JSON.parse(published.at(-1)!.payload), { commandId: "limited", status: "error", error: RATE_LIMITED });
	state.waiting = ANSWERS_WAITING;
	const pending = inbox.receive(command("lost"));
	t.is(state.unanswered, 1);
	t.is(published.length, 2, "no answer");
	t.like(records.filter((r) => r.event === "command.rejected").at(-1), { commandId: "lost", answered: false, reason: RATE_LIMITED });
	let acked = false;
	pending!.then(() => (acked = true));
	inbox.released(published.at(-1)!);
	t.true(acked, "acknowledged with the newest waiting answer");
	inbox.receive(command("lost"));
	t.is(state.unanswered, 2);
	t.deepEqual(state.executed, ["run"]);
	state.waiting = 0;
	state.queue = false;
	inbox.receive(command("lost"));
	t.deepEqual(state.executed, ["run", "lost"], "a command never executed can run later");
});

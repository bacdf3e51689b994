import test, { type ExecutionContext } from "ava";
import type { Packet } from "mqttclient/packets";
import { mpEncode } from "./oracle";
import { connack, connected, publishFromBroker, world, CONNECT, type FakeTransport, type World } from "./fake";

/*
 * Rule: a dead or stalled link is detected within keepAlive + socketTimeout, always, and the broker
 * never sees more than keepAlive seconds of silence from the client.
 *
 * Every ratio of keepAlive to socketTimeout (below, equal, above; 0 = disabled), on the virtual
 * clock: brokers that answer (quickly or late), brokers that go silent, brokers that trickle a
 * packet one byte a second, and a network that stops taking the client's bytes.
 */

/** [keepAlive, socketTimeout] in seconds. */
const RATIOS: [number, number][] = [[10, 30], [30, 30], [60, 30], [0, 30], [1, 1], [5, 60]];

function label([keepAlive, socketTimeout]: [number, number]): string {
	const relation = keepAlive === 0 ? "disabled" : keepAlive < socketTimeout ? "<" : keepAlive === socketTimeout ? "=" : ">";
	return `keepAlive ${keepAlive} ${relation} socketTimeout ${socketTimeout}`;
}

function live(t: ExecutionContext, [keepAlive, socketTimeout]: [number, number], options: Parameters<typeof connected>[1] = {}): World {
	return connected(t, { keepAlive, socketTimeout, ...options });
}

/** Every packet the client wrote on `tr`, with the time of its write. */
function writes(tr: FakeTransport): { at: number; type: Packet["type"] }[] {
	const out: { at: number; type: Packet["type"] }[] = [];
	// Whole packets are written in one chunk when the transport has room.
	const packets = tr.sent();
	if (packets.length !== tr.chunks.length) throw new Error(`expected one packet per write, got ${packets.length} packets in ${tr.chunks.length} writes`);
	packets.forEach((p, i) => out.push({ at: tr.writtenAt[i], type: p.type }));
	return out;
}

/** Longest time, in ms, within [from, to] in which the client wrote nothing. */
function longestSilence(tr: FakeTransport, from: number, to: number): number {
	let last = from;
	let longest = 0;
	for (const at of tr.writtenAt) {
		longest = Math.max(longest, at - last);
		last = at;
	}
	return Math.max(longest, to - last);
}

/** A broker that answers every PINGREQ with a PINGRESP `delayMs` later. */
function answerPings(w: World, delayMs: number): { pings: number[]; stop(): void } {
	const tr = w.net.last;
	let answering = true;
	const record = { pings: [] as number[], stop: () => { answering = false; } };
	const write = tr.write.bind(tr);
	tr.write = (bytes: Uint8Array) => {
		write(bytes);
		if (answering && bytes.length === 2 && bytes[0] === 0xc0 && bytes[1] === 0) {
			record.pings.push(w.time.now);
			w.time.schedule(() => tr.receive({ type: "pingresp" }), delayMs, 0);
		}
	};
	return record;
}

/* ----------------------------------------------------------------------------------------- */
/* A broker that answers                                                                      */

for (const ratio of RATIOS) {
	const [keepAlive, socketTimeout] = ratio;
	const answers = [50, socketTimeout * 1000 - 1];
	test(`${label(ratio)}: answered pings, fast or just in time: connected for an hour, never more than keepAlive silent towards the broker`, (t) => {
		for (const delay of answers) {
			const w = live(t, ratio);
			const { pings } = answerPings(w, delay);
			w.time.advance(3_600_000);
			t.deepEqual(w.closes, [], `answered after ${delay} ms`);
			t.true(w.client.connected);
			if (keepAlive === 0) {
				t.deepEqual(w.net.last.chunks, [], "keepAlive 0: no PINGREQ, ever");
				continue;
			}
			const silence = longestSilence(w.net.last, 0, w.time.now);
			t.true(silence <= keepAlive * 1000, `answered after ${delay} ms: the broker heard nothing for ${silence} ms (keepAlive ${keepAlive} s)`);
			t.true(pings.length >= Math.floor(3_600 / keepAlive) - 1, `${pings.length} PINGREQs`);
			t.is(w.net.last.overWrites, 0);
		}
	});

	if (keepAlive > 0) {
		test(`${label(ratio)}: a client that only publishes pings on time too, and a silent broker is noticed within keepAlive + socketTimeout`, (t) => {
			const w = live(t, ratio);
			const every = Math.max(200, keepAlive * 300);
			let lastPublish = 0;
			while (w.client.connected && w.time.now < 10 * (keepAlive + socketTimeout) * 1000) {
				w.time.advance(every);
				if (w.client.connected) {
					t.true(w.client.publish("s/t", "x").ok);
					lastPublish = w.time.now;
				}
			}
			t.is(w.closes.length, 1);
			t.is(w.closes[0]?.code, "keepalive_timeout");
			t.true(w.closedAt[0] <= (keepAlive + socketTimeout) * 1000, `closed at ${w.closedAt[0]} ms`);
			t.true(lastPublish > 0);
		});
	}
}

test("keepAlive 10, socketTimeout 30: after a PINGRESP the next PINGREQ comes keepAlive after the previous one, not at the old PINGRESP deadline", (t) => {
	const w = live(t, [10, 30]);
	const { pings } = answerPings(w, 100);
	w.time.advance(60_000);
	t.deepEqual(pings, [10_000, 20_000, 30_000, 40_000, 50_000, 60_000]);
	t.true(w.client.connected);
});

test("keepAlive 10, socketTimeout 30: while a PINGREQ is unanswered the client keeps pinging every 10 s, and its deadline does not move", (t) => {
	const w = live(t, [10, 30]);
	w.time.advance(120_000);
	t.deepEqual(writes(w.net.last).map((s) => [s.at, s.type]), [[10_000, "pingreq"], [20_000, "pingreq"], [30_000, "pingreq"]]);
	t.is(w.closedAt[0], 40_000, "the first unanswered PINGREQ + socketTimeout");
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "keepalive_timeout");
	t.regex(w.closes[0].message, /within 30 s of PINGREQ/);
	t.true(w.net.last.closedByClient);
});

test("keepalive_timeout at exactly the first unanswered PINGREQ + socketTimeout, for every ratio", (t) => {
	for (const ratio of RATIOS.filter(([k]) => k > 0)) {
		const [keepAlive, socketTimeout] = ratio;
		const w = live(t, ratio);
		w.time.advance(1_000_000);
		t.is(w.closedAt[0], (keepAlive + socketTimeout) * 1000, label(ratio));
		t.is(w.closes[0]?.code, "keepalive_timeout");
	}
});

test("a broker that answers for a while and then goes silent is noticed within keepAlive + socketTimeout of its last packet", (t) => {
	for (const ratio of RATIOS.filter(([k]) => k > 0)) {
		const [keepAlive, socketTimeout] = ratio;
		const w = live(t, ratio);
		const responder = answerPings(w, 300);
		w.time.advance(5 * keepAlive * 1000 + 1);
		// Silence from now on.
		responder.stop();
		const lastAnswer = responder.pings.at(-1)! + 300;
		w.time.advance(1_000_000);
		t.is(w.closes[0]?.code, "keepalive_timeout", label(ratio));
		const closedAt = w.closedAt[0];
		t.true(closedAt - lastAnswer <= (keepAlive + socketTimeout) * 1000, `${label(ratio)}: closed ${closedAt - lastAnswer} ms after the last packet`);
	}
});

/* ----------------------------------------------------------------------------------------- */
/* A trickling broker                                                                         */

/** A QoS 0 PUBLISH with a payload of `size` bytes, to be delivered one byte at a time. */
function bigPublish(version: 4 | 5, size: number): Uint8Array {
	const bytes = mpEncode(publishFromBroker("cmd/slow", new Uint8Array(size), 0), version);
	return bytes;
}

for (const ratio of RATIOS) {
	const [keepAlive, socketTimeout] = ratio;
	const bound = (keepAlive + socketTimeout) * 1000;
	for (const start of [1, 7_000]) {
		test(`${label(ratio)}: a broker trickling one byte a second from ${start} ms after CONNACK is noticed within keepAlive + socketTimeout`, (t) => {
			const w = live(t, ratio);
			w.time.advance(start);
			const tr = w.net.last;
			const stream = bigPublish(4, 2000);
			let sent = 0;
			while (w.client.connected && sent < stream.length) {
				tr.receive(stream.subarray(sent, sent + 1));
				sent++;
				w.time.advance(1000);
			}
			t.false(w.client.connected, `still connected after ${sent} bytes, ${w.time.now} ms`);
			t.is(w.closes.length, 1);
			t.true(["keepalive_timeout", "link_stalled"].includes(w.closes[0].code), w.closes[0].code);
			t.is(w.closes[0].state, -4);
			t.true(w.closes[0].wasConnected);
			t.truthy(w.closes[0].fix);
			// Detected within keepAlive + socketTimeout of the last complete packet (the CONNACK at 0),
			// and with keepAlive 0 within socketTimeout of the packet's first byte.
			const limit = keepAlive ? bound : start + socketTimeout * 1000;
			t.true(w.closedAt[0] <= limit, `closed at ${w.closedAt[0]} ms, limit ${limit} ms`);
			t.deepEqual(w.messages, []);
		});
	}
}

test("a trickled packet that completes in time is delivered; the next packet may trickle too", (t) => {
	const w = live(t, [60, 30]);
	const tr = w.net.last;
	const stream = bigPublish(4, 10);
	t.true(stream.length < 30, "completes within the socket timeout at a byte a second");
	for (let i = 0; i < stream.length; i++) {
		tr.receive(stream.subarray(i, i + 1));
		w.time.advance(1000);
	}
	t.is(w.messages.length, 1);
	for (let i = 0; i < stream.length; i++) {
		tr.receive(stream.subarray(i, i + 1));
		w.time.advance(1000);
	}
	t.is(w.messages.length, 2);
	t.true(w.client.connected);
	t.deepEqual(w.closes, []);
});

test("a trickled CONNACK does not extend the connect deadline", (t) => {
	const w = world({ socketTimeout: 30 });
	w.client.connect(CONNECT);
	w.net.last.open();
	const bytes = mpEncode(connack({ properties: undefined }), 4);
	// Two of its four bytes, then silence at one byte per 20 s.
	w.net.last.receive(bytes.subarray(0, 1));
	for (let i = 1; i < bytes.length - 1 && w.closes.length === 0; i++) {
		w.time.advance(20_000);
		w.net.last.receive(bytes.subarray(i, i + 1));
	}
	w.time.advance(20_000);
	t.is(w.closes.length, 1);
	t.is(w.closes[0].code, "connect_timeout");
	t.is(w.time.now <= 60_000, true);
});

/* ----------------------------------------------------------------------------------------- */
/* A network that stops taking the client's bytes                                             */

for (const ratio of RATIOS.filter(([k]) => k > 0)) {
	const [keepAlive, socketTimeout] = ratio;
	test(`${label(ratio)}: bytes that cannot be written while the broker keeps sending are a stall, noticed within keepAlive + socketTimeout`, (t) => {
		const w = live(t, ratio);
		const tr = w.net.last;
		tr.room = 0;
		let id = 0;
		while (w.client.connected && w.time.now < 100 * (keepAlive + socketTimeout) * 1000) {
			w.time.advance(Math.max(100, keepAlive * 200));
			tr.receive(publishFromBroker("cmd/flood", "x", (id % 2) as 0 | 1, (id % 60_000) + 1));
			id++;
			t.true(w.client.queuedBytes <= 4096, `queue ${w.client.queuedBytes}`);
		}
		t.false(w.client.connected);
		t.true(["keepalive_timeout", "link_stalled"].includes(w.closes[0]?.code), w.closes[0]?.code);
		t.true(w.closedAt[0] <= (keepAlive + socketTimeout) * 1000, `closed at ${w.closedAt[0]} ms`);
	});
}

test("a flood of QoS 1 messages while the transport takes nothing: the acknowledgements waiting to be sent stay bounded", (t) => {
	for (const version of [4, 5] as const) {
		const w = connected(t, { protocolVersion: version, keepAlive: 0, inflightWindow: 65_535 });
		const tr = w.net.last;
		tr.room = 0;
		let n = 0;
		for (; n < 20_000 && w.client.connected; n++) {
			tr.receive(publishFromBroker("cmd/flood", "x", 1, (n % 65_535) + 1));
			t.true(w.client.queuedBytes <= 4 * 1024 + 1024, `queue ${w.client.queuedBytes} after ${n} messages`);
		}
		t.false(w.client.connected, `v${version}: still connected after ${n} unacknowledgeable messages`);
		t.is(w.closes[0]?.code, "link_stalled");
		t.regex(w.closes[0]?.message ?? "", /send|writ/);
	}
});

test("keepAlive 0: a client that writes nothing and a broker that says nothing stay connected (nothing to watch)", (t) => {
	const w = live(t, [0, 30]);
	w.time.advance(24 * 3_600_000);
	t.true(w.client.connected);
	t.deepEqual(w.net.last.chunks, []);
});

/* ----------------------------------------------------------------------------------------- */
/* How a close by the broker is explained                                                     */

test("a broker closing after a keepalive of silence from the client (its bytes stuck) is explained as keepalive", (t) => {
	const w = live(t, [10, 30]);
	w.net.last.room = 0;
	w.time.advance(15_000);
	t.true(w.client.connected, "the PINGREQ at 10 s could not be written");
	w.net.last.hangUp();
	t.is(w.closes.length, 1);
	const close = w.closes[0];
	t.is(close.code, "connection_lost");
	t.is(close.state, -3);
	t.regex(close.message, /15 s after this client last sent anything \(keepalive 10 s\)/);
	t.regex(close.fix ?? "", /^keepalive/);
	t.notRegex(close.fix ?? "", /client id|taken over/);
});

test("a broker closing a connection that pinged on time gets the neutral explanation: restart or network first", (t) => {
	for (const ratio of RATIOS) {
		const w = live(t, ratio);
		answerPings(w, 100);
		w.time.advance(25_000);
		w.net.last.hangUp();
		const close = w.closes[0];
		t.is(close?.code, "connection_lost", label(ratio));
		t.regex(close?.message ?? "", /closed by the broker without DISCONNECT$/);
		t.regex(close?.fix ?? "", /^most often the broker restarted or stopped, or the network dropped the connection/);
	}
});

/* ----------------------------------------------------------------------------------------- */
/* The clock read once between check points (Hot.lastSent)                                    */

/** A small seeded generator (mulberry32), so a failure names its seed. */
function random(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let r = Math.imul(a ^ (a >>> 15), 1 | a);
		r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
		return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
	};
}

test("mixed traffic for two hours (publishes at QoS 0 and 1, bursts, broker messages, pauses): never more than keepAlive silent, never closed", (t) => {
	for (const seed of [1, 2, 3, 4, 5]) {
		for (const ratio of [[10, 30], [5, 60], [1, 1]] as [number, number][]) {
			const [keepAlive] = ratio;
			const w = live(t, ratio);
			const tr = w.net.last;
			answerPings(w, 20);
			const next = random(seed);
			let id = 1000;
			while (w.time.now < 7_200_000) {
				const r = next();
				if (r < 0.3) {
					const burst = 1 + Math.floor(next() * 5);
					for (let i = 0; i < burst; i++) w.client.publish("s/t", "x");
				}
				else if (r < 0.55) {
					const out = w.client.publish("s/q", "y", { qos: 1 });
					if (out.ok) {
						const ack = out.id;
						w.time.schedule(() => tr.receive({ type: "puback", id: ack }), Math.floor(next() * 200), 0);
					}
				}
				else if (r < 0.7) tr.receive(publishFromBroker("cmd/x", "z", 0));
				else if (r < 0.75) tr.receive(publishFromBroker("cmd/y", "z", 1, id++));
				w.time.advance(Math.floor(next() * next() * keepAlive * 2000));
			}
			t.deepEqual(w.closes, [], `seed ${seed}, ${label(ratio)}`);
			const silence = longestSilence(tr, 0, w.time.now);
			t.true(silence <= keepAlive * 1000, `seed ${seed}, ${label(ratio)}: the broker heard nothing for ${silence} ms`);
		}
	}
});

test("QoS 1 telemetry every 3 s, each acknowledged 50 ms later: no PINGREQ in an hour (traffic both ways keeps the link alive)", (t) => {
	const w = live(t, [10, 30]);
	const tr = w.net.last;
	const { pings } = answerPings(w, 20);
	for (let s = 0; s < 3_600; s += 3) {
		const out = w.client.publish("s/q", "y", { qos: 1 });
		t.true(out.ok);
		if (out.ok) w.time.schedule(() => tr.receive({ type: "puback", id: out.id }), 50, 0);
		w.time.advance(3_000);
	}
	t.deepEqual(pings, []);
	t.true(w.client.connected);
});

test("the publish path reads the clock once between check points, not once a write", (t) => {
	const w = connected(t, { keepAlive: 10 });
	w.clockReads = 0;
	for (let i = 0; i < 1000; i++) t.true(w.client.publish("s/t", "x").ok);
	t.true(w.clockReads <= 1, `${w.clockReads} clock readings for 1000 publishes`);
	w.net.last.receive(publishFromBroker("cmd/x", "z", 0));
	w.clockReads = 0;
	for (let i = 0; i < 10; i++) t.true(w.client.publish("s/t", "x").ok);
	t.is(w.clockReads, 1, "after a packet arrived, the next write reads the clock again (and only it)");
});

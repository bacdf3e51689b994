/*
 * Benchmark sink, run as a child process by bench.ts: a wire-speed MQTT 3.1.1 end point that
 * stands in for the broker when the bench measures the publishing client alone. It accepts any
 * CONNECT, acknowledges QoS 1 PUBLISHes at once and counts PUBLISH packets per topic; it routes
 * nothing (there is no subscriber), so the publisher is the only process that sets the pace.
 *
 * Per connection it frames the packets of each `data` chunk (a packet may span chunks) and
 * answers: CONNECT -> CONNACK accepted, QoS 1 PUBLISH -> PUBACK, SUBSCRIBE -> SUBACK (QoS 0 per
 * filter), PINGREQ -> PINGRESP, DISCONNECT -> end. Every answer produced while handling one chunk
 * goes out in one socket.write: one system call per chunk, not one per message. A malformed
 * packet (remaining length over 4 bytes, a PUBLISH shorter than its topic) closes that socket
 * and nothing else.
 *
 * Before it reports ready it warms itself up through a connection of its own, so that the first
 * measured run does not pay for compiling the sink's code.
 *
 * It speaks subscriber.ts's IPC protocol ("expect" -> "complete", "count" -> "count"), so
 * bench.ts drives both alike; its "ready" message carries the port it listens on.
 *
 * Usage (from bench.ts): fork(sink.ts) with an IPC channel.
 */

import net from "node:net";
import { Arrivals, fixedHeader, INCOMPLETE, makePayload, MALFORMED, sharedNow, WARMUP_TOPIC, type FromSubscriber, type ToSubscriber } from "./common";

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const PINGRESP = Buffer.from([0xd0, 0x00]);

function send(message: FromSubscriber): void {
	if (process.connected) process.send?.(message);
}

const arrivals = new Arrivals(send);

/** `n` more PUBLISHes on `topic` arrived in the chunk received at `at`. */
function onPublishes(topic: string, n: number, at: number): void {
	arrivals.add(topic, n, at);
}

/**
 * The size of the packet that starts `a` and may go on in `b` (fixed header included), read
 * from its remaining length; INCOMPLETE when that is not all there yet, MALFORMED past 4 bytes.
 */
function packetSize(a: Buffer, b: Buffer): number {
	let remaining = 0;
	let multiplier = 1;
	for (let k = 1; k < 5; k++) {
		const digit = k < a.length ? a[k] : k - a.length < b.length ? b[k - a.length] : -1;
		if (digit < 0) return INCOMPLETE;
		remaining += (digit & 0x7f) * multiplier;
		multiplier *= 128;
		if (!(digit & 0x80)) return k + 1 + remaining;
	}
	return MALFORMED;
}

/**
 * One client's connection. A class, not a closure per socket, so that every connection runs the
 * code (and the optimized code) that the warm-up's connection made hot.
 */
class Connection {
	readonly #socket: net.Socket;
	/** The start of a packet that the previous chunk did not complete. */
	#pending: Buffer | undefined;
	/** The answers to the chunk being handled: one socket.write at its end. */
	#answers: Buffer[] = [];
	#answerBytes = 0;
	/** fixedHeader()'s answer, reused. */
	readonly #header = { remaining: 0 };
	/** PUBLISHes are counted in runs of one topic (a chunk usually holds one run). */
	#runTopic = "";
	#runCount = 0;
	/** When the chunk being handled arrived: one clock read per chunk, as all its packets came in one read(). */
	#at = 0;

	constructor(socket: net.Socket) {
		this.#socket = socket;
		socket.setNoDelay(true);
		socket.on("data", (chunk: Buffer) => this.#onData(chunk));
		// A client that resets (MQTT.js's end(true), a killed publisher) is nothing to report.
		socket.on("error", () => {});
	}

	#onData(chunk: Buffer): void {
		this.#at = sharedNow();
		let from = 0;
		const head = this.#pending;
		if (head) {
			// Complete the split packet with the bytes it lacks, rather than copy the whole chunk
			// behind it (a 64 KB read usually ends inside a packet).
			const size = packetSize(head, chunk);
			if (size === MALFORMED) {
				this.#socket.destroy();
				return;
			}
			if (size === INCOMPLETE || head.length + chunk.length < size) {
				this.#pending = Buffer.concat([head, chunk]);
				return;
			}
			this.#pending = undefined;
			from = size - head.length;
			if (this.#packets(Buffer.concat([head, chunk.subarray(0, from)], size), 0) < 0) return;
		}
		const done = this.#packets(chunk, from);
		if (done < 0) return;
		this.#flush();
		if (done < chunk.length) this.#pending = chunk.subarray(done);
	}

	/** Handles the complete packets of buf from i on; returns where the incomplete rest starts, -1 when the socket was closed. */
	#packets(buf: Buffer, i: number): number {
		const n = buf.length;
		const header = this.#header;
		while (i + 2 <= n) {
			const j = fixedHeader(buf, i, header);
			if (j === MALFORMED) {
				// A fifth length byte: not MQTT.
				this.#socket.destroy();
				return -1;
			}
			const remaining = header.remaining;
			if (j === INCOMPLETE || j + remaining > n) break;
			const end = j + remaining;
			const type = buf[i] >> 4;
			if (type === 3) {
				// PUBLISH: topic length, topic, then (QoS > 0) the packet identifier.
				const qos = (buf[i] >> 1) & 3;
				const topicEnd = remaining < 2 ? end + 1 : j + 2 + ((buf[j] << 8) | buf[j + 1]);
				if (topicEnd + (qos ? 2 : 0) > end) {
					this.#socket.destroy();
					return -1;
				}
				const topic = buf.toString("latin1", j + 2, topicEnd);
				if (topic !== this.#runTopic) {
					if (this.#runCount) onPublishes(this.#runTopic, this.#runCount, this.#at);
					this.#runTopic = topic;
					this.#runCount = 0;
				}
				this.#runCount++;
				if (qos === 1) this.#answer(Buffer.from([0x40, 0x02, buf[topicEnd], buf[topicEnd + 1]]));
			}
			else if (type === 1) this.#answer(CONNACK);
			else if (type === 8 && remaining >= 2) {
				// SUBSCRIBE: packet identifier, then (length, filter, options) per filter.
				let filters = 0;
				for (let k = j + 2; k + 2 <= end; filters++) k += 2 + ((buf[k] << 8) | buf[k + 1]) + 1;
				if (filters > 125) {
					// A SUBACK this long needs a second length byte; no client of the bench sends it.
					this.#socket.destroy();
					return -1;
				}
				const suback = Buffer.alloc(4 + filters);
				suback[0] = 0x90;
				suback[1] = 2 + filters;
				suback[2] = buf[j];
				suback[3] = buf[j + 1];
				this.#answer(suback);
			}
			else if (type === 12) this.#answer(PINGRESP);
			else if (type === 14) {
				this.#flush();
				this.#socket.end();
				return -1;
			}
			i = end;
		}
		return i;
	}

	#answer(bytes: Buffer): void {
		this.#answers.push(bytes);
		this.#answerBytes += bytes.length;
	}

	/** The chunk is handled: count its last run of PUBLISHes, send its answers in one write. */
	#flush(): void {
		if (this.#runCount) {
			onPublishes(this.#runTopic, this.#runCount, this.#at);
			this.#runTopic = "";
			this.#runCount = 0;
		}
		const answers = this.#answers;
		if (!answers.length) return;
		this.#socket.write(answers.length === 1 ? answers[0] : Buffer.concat(answers, this.#answerBytes));
		this.#answers = [];
		this.#answerBytes = 0;
	}
}

/** A PUBLISH packet (MQTT 3.1.1) to `topic`, QoS 0 or 1 with packet identifier `id`. */
function publishPacket(topic: string, payload: Buffer, qos: 0 | 1, id: number): Buffer {
	const remaining = 2 + topic.length + (qos ? 2 : 0) + payload.length;
	const length: number[] = [];
	for (let r = remaining; ; ) {
		const digit = r % 128;
		r = Math.floor(r / 128);
		length.push(r ? digit | 0x80 : digit);
		if (!r) break;
	}
	const head = Buffer.from([0x30 | (qos << 1), ...length, topic.length >> 8, topic.length & 0xff]);
	const id2 = qos ? Buffer.from([id >> 8, id & 0xff]) : Buffer.alloc(0);
	return Buffer.concat([head, Buffer.from(topic, "latin1"), id2, payload]);
}

/**
 * Warm-up: V8 optimizes the `data` handler only after many calls, and the publisher's warm-up
 * (a few dozen chunks at QoS 0) is not enough; a cold sink spent twice its later CPU per message
 * in the first measured run. So the sink first sends itself, over one connection, ROUNDS chunks
 * shaped like a publisher's (a 16 KB run of QoS 0 PUBLISHes, then QoS 1 ones), each after the
 * previous chunk's PUBACKs came back.
 */
async function warmUp(port: number): Promise<void> {
	const ROUNDS = 1000;
	const QOS1 = 8;
	const payload = makePayload();
	const qos0 = publishPacket(WARMUP_TOPIC, payload, 0, 0);
	const chunk = Buffer.concat([
		...Array.from({ length: Math.floor(16384 / qos0.length) }, () => qos0),
		...Array.from({ length: QOS1 }, (_, i) => publishPacket(WARMUP_TOPIC, payload, 1, i + 1)),
	]);
	const socket = net.connect(port, "127.0.0.1");
	socket.setNoDelay(true);
	await new Promise<void>((resolve, reject) => {
		let rounds = 0;
		let acked = 0;
		socket.once("error", reject);
		// Each chunk in two writes, cut inside a packet, so that reads also end inside packets.
		const cut = chunk.length - Math.floor(qos0.length * 2.5);
		const write = () => {
			socket.write(chunk.subarray(0, cut));
			setImmediate(() => socket.write(chunk.subarray(cut)));
		};
		socket.once("connect", write);
		socket.on("data", (bytes: Buffer) => {
			acked += bytes.length;
			if (acked < QOS1 * 4) return;
			acked -= QOS1 * 4;
			if (++rounds < ROUNDS) write();
			else resolve();
		});
	});
	socket.destroy();
}

const server = net.createServer((socket) => new Connection(socket));
server.on("error", (e) => {
	send({ type: "error", message: `sink: ${e.message}` });
	process.exit(1);
});
server.listen(0, "127.0.0.1", () => {
	const address = server.address();
	if (!address || typeof address !== "object") return;
	warmUp(address.port).then(
		() => send({ type: "ready", port: address.port }),
		(e: unknown) => {
			send({ type: "error", message: `sink: warm-up: ${e instanceof Error ? e.message : String(e)}` });
			process.exit(1);
		},
	);
});

process.on("message", (message: ToSubscriber) => arrivals.answer(message));
// The parent went away (finished or died): nothing left to do.
process.on("disconnect", () => process.exit(0));

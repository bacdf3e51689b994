/*
 * Benchmark subscriber, run as a child process by bench.ts: a raw TCP MQTT 3.1.1 subscriber
 * that counts PUBLISH packets per topic and reports when a topic has received what the parent
 * expects. It uses neither client under test (only mqtt-packet to build its CONNECT and
 * SUBSCRIBE) and does the least work per message (frame, read the topic, count), so it is the
 * same, cheap, end point for both publishers.
 *
 * Usage (from bench.ts): fork(subscriber.ts, [host, port]) with an IPC channel.
 */

import net from "node:net";
import { generate } from "mqtt-packet";
import { Arrivals, DATA_PREFIX, fixedHeader, INCOMPLETE, MALFORMED, sharedNow, type FromSubscriber, type ToSubscriber } from "./common";

const [host = "127.0.0.1", portText = "1883"] = process.argv.slice(2);

let stopping = false;

function send(message: FromSubscriber): void {
	if (process.connected) process.send?.(message);
}

const arrivals = new Arrivals(send);

function onPublish(topic: string): void {
	arrivals.add(topic, 1, sharedNow());
}

let subscribed = false;

function onPacket(buf: Buffer, start: number, bodyStart: number, end: number): void {
	const type = buf[start] >> 4;
	if (type === 3) {
		const topicLength = (buf[bodyStart] << 8) | buf[bodyStart + 1];
		onPublish(buf.toString("latin1", bodyStart + 2, bodyStart + 2 + topicLength));
	}
	else if (type === 2) {
		// CONNACK
		if (buf[bodyStart + 1] !== 0) fail(`CONNACK refused with ${buf[bodyStart + 1]}`);
		else socket.write(generate({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: `${DATA_PREFIX}#`, qos: 0 }] }));
	}
	else if (type === 9 && !subscribed) {
		// SUBACK
		subscribed = true;
		if (buf[end - 1] >= 0x80) fail("SUBACK refused the subscription");
		else send({ type: "ready" });
	}
	else if (type === 13) {
		// PINGRESP
	}
}

let pending: Buffer | undefined;
const header = { remaining: 0 };

function onData(chunk: Buffer): void {
	const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
	pending = undefined;
	let i = 0;
	const n = buf.length;
	while (i + 2 <= n) {
		const j = fixedHeader(buf, i, header);
		if (j === MALFORMED) {
			fail("the broker sent a remaining length of more than 4 bytes");
			return;
		}
		if (j === INCOMPLETE || j + header.remaining > n) break;
		onPacket(buf, i, j, j + header.remaining);
		i = j + header.remaining;
	}
	if (i < n) pending = buf.subarray(i);
}

function fail(message: string): void {
	if (stopping) return;
	send({ type: "error", message: `subscriber: ${message}` });
	process.exit(1);
}

const socket = net.connect({ host, port: Number(portText) });
socket.setNoDelay(true);
socket.on("connect", () => {
	socket.write(generate({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clean: true, clientId: "bench-subscriber", keepalive: 0 }));
});
socket.on("data", onData);
socket.on("error", (e) => fail(e.message));
socket.on("close", () => fail("connection closed"));

process.on("message", (message: ToSubscriber) => arrivals.answer(message));
// The parent went away (finished or died): nothing left to do.
process.on("disconnect", () => {
	stopping = true;
	socket.destroy();
	process.exit(0);
});

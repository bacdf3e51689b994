/*
 * The XS side of the benchmark (bundled by ./run.ts, evaluated in xsnap): our client over the
 * firmware's socket adapter and clock, and (when the SDK is at hand) Moddable's `mqtt` module, each
 * publishing to a fake socket (./shims.ts). What is timed is the XS work per message: the client,
 * its codec, the adapter and the socket calls, not a network.
 */

import { MQTTClient } from "mqttclient";
import { mint } from "jwt";
import { moddableTcp } from "../../../src/adapters/socket";
import { ModdableClock } from "../../../src/adapters/clock";
import { fake, FakeSocket } from "./shims";
// Resolved by ./run.ts to $MODDABLE/modules/network/mqtt/mqtt.js, or to a stub without the SDK.
import ModdableMqtt from "moddable-mqtt";

declare const performance: { now(): number };

export interface Figure {
	/** µs per message (or per token). */
	us: number;
	/** Bytes of the XS heap allocated per message, from the worker's meter (filled in by run.ts). */
	bytesPerOp?: number;
	written: number;
}

const CONNACK = Uint8Array.of(0x20, 2, 0, 0);

function lastSocket(): FakeSocket {
	const s = fake.sockets[fake.sockets.length - 1];
	if (!s) throw new Error("no socket was opened");
	return s;
}

export function payloadBytes(size: number): Uint8Array {
	const text = '{"t":1732262400,"temperature":21.5,"humidity":48.2,"rssi":-61,"seq":0,"pad":"';
	const bytes = new Uint8Array(size).fill(0x78);
	for (let i = 0; i < text.length && i < size; i++) bytes[i] = text.charCodeAt(i);
	if (size > text.length) bytes[size - 1] = 0x7d;
	return bytes;
}

/* Ours -------------------------------------------------------------------------------------- */

export interface OursSession {
	client: MQTTClient;
	socket: FakeSocket;
	acked: number;
}

export function oursOpen(window: number): OursSession {
	let acked = 0;
	const session = {} as OursSession;
	const client = new MQTTClient({
		transport: moddableTcp(),
		clock: new ModdableClock(),
		bufferSize: 1024,
		inflightWindow: window,
		keepAlive: 60,
		onDelivered: () => { session.acked = ++acked; },
	});
	const outcome = client.connect({ host: "127.0.0.1", port: 1883, clientId: "bench-ours" });
	if (!outcome.ok) throw new Error(`connect: ${outcome.error.message}`);
	fake.runTimers();
	const socket = lastSocket();
	socket.callback?.(1);
	socket.deliver(CONNACK);
	if (!client.connected) throw new Error("our client did not connect");
	session.client = client;
	session.socket = socket;
	session.acked = 0;
	return session;
}

/** n QoS 0 publishes of `payload` to `topic`. */
export function oursQos0(s: OursSession, n: number, topic: string, payload: Uint8Array | string): Figure {
	const before = s.socket.written;
	const start = performance.now();
	for (let i = 0; i < n; i++) {
		const r = s.client.publish(topic, payload);
		if (!r.ok) throw new Error(`publish: ${r.error.message}`);
	}
	const us = ((performance.now() - start) * 1000) / n;
	return { us, written: s.socket.written - before };
}

/**
 * n QoS 1 publishes, `window` at a time, each window acknowledged by one read holding its PUBACKs
 * (as a socket delivers them): publish, decode PUBACK, deliver, all counted.
 */
export function oursQos1(s: OursSession, n: number, topic: string, payload: Uint8Array | string, window: number): Figure {
	const before = s.socket.written;
	const acks = new Uint8Array(4 * window);
	const start = performance.now();
	for (let i = 0; i < n; i += window) {
		let k = 0;
		for (let j = 0; j < window && i + j < n; j++) {
			const r = s.client.publish(topic, payload, { qos: 1 });
			if (!r.ok) throw new Error(`publish: ${r.error.message}`);
			acks[k++] = 0x40;
			acks[k++] = 2;
			acks[k++] = r.id >> 8;
			acks[k++] = r.id & 0xff;
		}
		s.socket.deliver(k === acks.length ? acks : acks.subarray(0, k));
	}
	const us = ((performance.now() - start) * 1000) / n;
	if (s.acked < n) throw new Error(`only ${s.acked} of ${n} acknowledged`);
	s.acked = 0;
	return { us, written: s.socket.written - before };
}

/* Moddable's mqtt ----------------------------------------------------------------------------- */

interface ModdableClient {
	publish(topic: string, data: ArrayBuffer | string, flags?: { quality?: number }): void;
	state: number;
}

export interface ModdableSession {
	client: ModdableClient;
	socket: FakeSocket;
}

export const haveModdable = typeof ModdableMqtt === "function";

export function moddableOpen(): ModdableSession {
	const Client = ModdableMqtt as unknown as new (d: Record<string, unknown>) => ModdableClient;
	const client = new Client({ host: "127.0.0.1", port: 1883, id: "bench-moddable", Socket: FakeSocket });
	const socket = lastSocket();
	socket.callback?.(1);
	socket.deliver(CONNACK);
	if (client.state < 2) throw new Error("Moddable's client did not connect");
	return { client, socket };
}

export function moddableQos0(s: ModdableSession, n: number, topic: string, payload: ArrayBuffer | string): Figure {
	const before = s.socket.written;
	const start = performance.now();
	for (let i = 0; i < n; i++) s.client.publish(topic, payload);
	const us = ((performance.now() - start) * 1000) / n;
	return { us, written: s.socket.written - before };
}

/* JWT ------------------------------------------------------------------------------------------- */

/** n tokens; `hmac` is the test SHA-256 in JS or whatever the caller passes. */
export function jwtMint(n: number, hmac: (key: Uint8Array, data: Uint8Array) => Uint8Array): Figure {
	let length = 0;
	const start = performance.now();
	for (let i = 0; i < n; i++) {
		const { token } = mint({ secret: "device-secret-0123456789abcdef", now: 1732262400 + i, ttl: 3600, issuer: "sensor-fleet", audience: "emqx", subject: "sensor_a1b2c3d4e5f6", hmac });
		length += token.length;
	}
	const us = ((performance.now() - start) * 1000) / n;
	return { us, written: length };
}

/** A constant "HMAC" (32 bytes, no work), to time what is around the HMAC. */
export function nullHmac(_key: Uint8Array, _data: Uint8Array): Uint8Array {
	return new Uint8Array(32);
}

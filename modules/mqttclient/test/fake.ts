/*
 * Test support for the client tests (not a test file itself): the client over an in-memory
 * transport and the virtual clock. Packets from the "broker" are encoded with mqtt-packet, and what
 * the client writes is parsed with mqtt-packet.
 */

import type { ExecutionContext } from "ava";
import { MQTTClient, type CloseInfo, type ConnectInfo, type ConnectOptions, type Message, type MQTTClientOptions } from "mqttclient";
import type { Diagnostic, TransportErrorCode } from "mqttclient/diagnostics";
import type { ConnackPacket, Packet, ProtocolVersion, PublishPacket } from "mqttclient/packets";
import type { Transport, TransportEvents, TransportOptions } from "mqttclient/transport";
import { VirtualTime } from "../../../test-host/adapters/clock";
import { mpEncode, mpParse } from "./oracle";

/* ----------------------------------------------------------------------------------------- */
/* Fake transport                                                                             */

export class FakeTransport implements Transport {
	/** Bytes the transport accepts before it is drained again; undefined = unlimited. */
	room: number | undefined;
	readonly chunks: Uint8Array[] = [];
	closedByClient = false;
	closedByPeer = false;
	/** When each chunk in `chunks` was written (the net's clock; 0 without one). */
	readonly writtenAt: number[] = [];
	#taken = 0;
	overWrites = 0;
	/** Times `writable` was asked. */
	asked = 0;
	/**
	 * Like SecureSocket: `writable` reports the room less this, and a write uses its length plus
	 * this (a TLS record's overhead). 0: a plain socket.
	 */
	writeOverhead = 0;
	/** The platform's allocator for PUBLISH packets, if the test gives one (FakeNet.allocate). */
	allocate: ((size: number) => Uint8Array) | undefined;

	constructor(readonly options: TransportOptions, readonly events: TransportEvents, readonly version: ProtocolVersion, readonly now: () => number = () => 0) {}

	get writable(): number {
		this.asked++;
		return this.#writable();
	}
	#writable(): number {
		if (this.closedByClient || this.closedByPeer) return 0;
		return Math.max(0, (this.room ?? 1 << 20) - this.writeOverhead);
	}
	write(bytes: Uint8Array): void {
		if (this.closedByClient || this.closedByPeer) throw new Error("write on a closed transport");
		if (bytes.length > this.#writable()) {
			this.overWrites++;
			throw new Error(`write of ${bytes.length} bytes with ${this.#writable()} writable`);
		}
		this.chunks.push(bytes.slice());
		this.writtenAt.push(this.now());
		if (this.room !== undefined) this.room -= bytes.length + this.writeOverhead;
	}
	close(): void {
		this.closedByClient = true;
	}

	/* The test's side. */
	open(): void {
		this.events.onConnect();
	}
	/** A packet (encoded by mqtt-packet) or raw bytes from the broker. */
	receive(what: Packet | Uint8Array | Packet[]): void {
		const bytes = what instanceof Uint8Array ? what : Array.isArray(what) ? Buffer.concat(what.map((p) => mpEncode(p, this.version))) : mpEncode(what, this.version);
		this.events.onData(bytes);
	}
	fail(code: TransportErrorCode, message = "test"): void {
		this.closedByPeer = true;
		this.events.onClose({ code, message });
	}
	hangUp(): void {
		this.closedByPeer = true;
		this.events.onClose();
	}
	/** Makes room (undefined: unlimited) and tells the client. */
	drain(room?: number): void {
		this.room = room;
		this.events.onWritable();
	}
	bytes(): Uint8Array {
		return Buffer.concat(this.chunks);
	}
	/** Forgets what was written so far. */
	forget(): void {
		this.chunks.length = 0;
		this.writtenAt.length = 0;
		this.#taken = 0;
	}
	/** Everything written, parsed by mqtt-packet. */
	sent(): Packet[] {
		const { packets, error } = mpParse(this.bytes(), this.version);
		if (error) throw new Error(`client wrote bytes mqtt-packet cannot parse: ${error.message}`);
		return packets;
	}
	/** Packets written since the last call. */
	take(): Packet[] {
		const all = this.sent();
		const out = all.slice(this.#taken);
		this.#taken = all.length;
		return out;
	}
}

export class FakeNet {
	readonly transports: FakeTransport[] = [];
	/** The `writeOverhead` of the transports opened from now on. */
	writeOverhead = 0;
	/** The `allocate` of the transports opened from now on. */
	allocate: ((size: number) => Uint8Array) | undefined;
	constructor(readonly version: ProtocolVersion, readonly now?: () => number) {}
	readonly factory = (options: TransportOptions, events: TransportEvents): Transport => {
		const t = new FakeTransport(options, events, this.version, this.now);
		t.writeOverhead = this.writeOverhead;
		t.allocate = this.allocate;
		this.transports.push(t);
		return t;
	};
	get last(): FakeTransport {
		const t = this.transports.at(-1);
		if (!t) throw new Error("no transport was opened");
		return t;
	}
}

/* ----------------------------------------------------------------------------------------- */
/* World                                                                                      */

export interface World {
	time: VirtualTime;
	net: FakeNet;
	client: MQTTClient;
	version: ProtocolVersion;
	closes: CloseInfo[];
	/** Virtual time of each close in `closes`. */
	closedAt: number[];
	warnings: Diagnostic[];
	delivered: [number, number][];
	messages: Message[];
	connects: ConnectInfo[];
	writable: number;
	subscribed: { id: number; codes: number[]; topics: string[] }[];
	unsubscribed: { id: number; codes: number[] }[];
	/** How many times the client has read its clock. */
	clockReads: number;
}

export const CONNECT: ConnectOptions = { host: "broker.local", port: 1883, clientId: "sensor-42" };

export function world(options: Partial<MQTTClientOptions> = {}): World {
	const version = options.protocolVersion ?? 4;
	const time = new VirtualTime();
	const net = new FakeNet(version, () => time.now);
	const w: World = {
		time, net, version,
		client: undefined as unknown as MQTTClient,
		closes: [], closedAt: [], warnings: [], delivered: [], messages: [], connects: [], writable: 0, subscribed: [], unsubscribed: [],
		clockReads: 0,
	};
	const clock = time.clock();
	w.client = new MQTTClient({
		transport: net.factory,
		clock: {
			now: () => {
				w.clockReads++;
				return clock.now();
			},
			set: (callback, ms) => clock.set(callback, ms),
			clear: (handle) => clock.clear(handle),
		},
		onClose: (i) => {
			w.closes.push(i);
			w.closedAt.push(time.now);
		},
		onWarning: (d) => w.warnings.push(d),
		onDelivered: (id, rc) => w.delivered.push([id, rc]),
		onMessage: (m) => { w.messages.push(m); },
		onConnect: (i) => w.connects.push(i),
		onWritable: () => { w.writable++; },
		onSubscribed: (id, codes, subs) => w.subscribed.push({ id, codes, topics: subs.map((s) => s.topic) }),
		onUnsubscribed: (id, codes) => w.unsubscribed.push({ id, codes }),
		...options,
	});
	return w;
}

export function connack(extra: Partial<ConnackPacket> = {}): ConnackPacket {
	return { type: "connack", sessionPresent: false, reasonCode: 0, ...extra };
}

/** Connects and accepts; the CONNECT is taken from the transport's record. */
export function connected(t: ExecutionContext, options: Partial<MQTTClientOptions> = {}, connectOptions: Partial<ConnectOptions> = {}, ack: Partial<ConnackPacket> = {}): World {
	const w = world(options);
	const outcome = w.client.connect({ ...CONNECT, ...connectOptions });
	t.true(outcome.ok, JSON.stringify(outcome));
	w.net.last.open();
	w.net.last.receive(connack(ack));
	t.true(w.client.connected);
	const first = w.net.last.take();
	t.is(first[0]?.type, "connect");
	w.net.last.forget();
	return w;
}

export function publishFromBroker(topic: string, payload: Uint8Array | string, qos: 0 | 1 | 2, id?: number, extra: Partial<PublishPacket> = {}): PublishPacket {
	const p: PublishPacket = { type: "publish", topic, payload: typeof payload === "string" ? Buffer.from(payload) : payload, qos, retain: false, dup: false, ...extra };
	if (qos > 0) p.id = id ?? 1;
	return p;
}

export function only<T extends Packet["type"]>(t: ExecutionContext, packets: Packet[], type: T): Extract<Packet, { type: T }> {
	t.is(packets.length, 1, `expected one ${type}, got ${packets.map((p) => p.type).join(",")}`);
	t.is(packets[0]?.type, type);
	return packets[0] as Extract<Packet, { type: T }>;
}

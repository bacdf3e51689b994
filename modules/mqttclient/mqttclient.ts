/*
 * MQTT 3.1.1 / 5.0 client over a caller-supplied transport and clock.
 *
 * - Bounded: no packet over `bufferSize` bytes is written (the caller gets an error and the
 *   connection stays up) or buffered on receipt (it is drained and reported). Writes respect the
 *   transport's backpressure through a send queue of bounded size; nothing throws when it is full.
 * - QoS 0, 1 and 2 with an in-flight window; unacknowledged messages survive a reconnect and are
 *   sent again (with DUP when the broker resumed the session).
 * - Liveness: PINGREQ when nothing was sent or received for the keepalive interval, and while one is
 *   unanswered again whenever the client has sent nothing for the keepalive (the broker never hears
 *   nothing for longer). Only a complete packet counts as an answer: no packet within the socket
 *   timeout of the first unanswered PINGREQ closes the connection, so a dead or stalled link is
 *   noticed within keepalive + socket timeout. A packet that began arriving must complete, and bytes
 *   waiting to be sent must start moving, within the socket timeout too (whatever the keepalive).
 *   CONNECT (TCP, TLS, CONNACK) must finish within the socket timeout. The time of the last write
 *   is kept as a lower bound (the first write after a packet arrived or the timer ran), so the
 *   publish path reads the clock once between those points: a PINGREQ may come early, never late.
 * - Hostile input: nothing from the network throws out of a transport or timer callback; a packet
 *   the client cannot accept closes the connection with a protocol_error diagnostic.
 * - MQTT 5 limits from CONNACK are obeyed: Receive Maximum bounds the window, a message above
 *   Maximum QoS is sent at the QoS the broker allows (with a warning, once), invalid limits are a
 *   protocol error.
 * - Every close is reported once, with a Diagnostic.
 */

import { CodecError, Decoder, decodePacket, encode, encodePublish, encodeWithin, mqttString, packetSize, type OversizeInfo } from "mqttclient/codec";
import {
	ackDiagnostic,
	connackDiagnostic,
	diagnostic,
	disconnectDiagnostic,
	keepaliveCloseDiagnostic,
	STATE,
	transportDiagnostic,
	type Diagnostic,
} from "mqttclient/diagnostics";
import type {
	AckPacket,
	ConnackPacket,
	ConnectPacket,
	Packet,
	Properties,
	ProtocolVersion,
	PublishPacket,
	QoS,
	Subscription,
} from "mqttclient/packets";
import type { MqttClock, TimerHandle, TlsOptions, Transport, TransportError, TransportFactory } from "mqttclient/transport";
import { utf8Encode } from "bytes";
import { deepFreeze } from "frozen";

export type { Diagnostic } from "mqttclient/diagnostics";
export type { QoS, Subscription, Properties, ProtocolVersion } from "mqttclient/packets";

export interface Message {
	topic: string;
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
	dup: boolean;
	properties?: Properties;
}

export interface ConnectInfo {
	sessionPresent: boolean;
	/** Size of the CONNECT packet in bytes (the JWT must fit in the buffer). */
	connectBytes: number;
	/** Keepalive in effect, in seconds (the server's, when it sent one). */
	keepAlive: number;
	/** Largest packet this client will send on this connection. */
	maximumPacketSize: number;
	/** Unacknowledged messages sent again after connecting. */
	resent: number;
	assignedClientId?: string;
	properties?: Properties;
}

export interface CloseInfo extends Diagnostic {
	/** True when the connection had been accepted (CONNACK 0) before it closed. */
	wasConnected: boolean;
}

/**
 * What an operation did. `qos` (publish only) is the QoS the message went out with: lower than
 * asked when the broker's Maximum QoS is lower (MQTT 5).
 */
export type Outcome = { ok: true; id: number; bytes: number; qos?: QoS } | { ok: false; error: Diagnostic };

export interface MQTTClientOptions {
	transport: TransportFactory;
	clock: MqttClock;
	protocolVersion?: ProtocolVersion;
	/** Largest packet, fixed header included, sent or received. Default 1024. */
	bufferSize?: number;
	/** Seconds; 0 disables. Default 60. */
	keepAlive?: number;
	/**
	 * Seconds allowed for connecting (TCP, TLS, CONNACK), for an answer to PINGREQ, for a packet
	 * that began arriving to complete, and for queued bytes to start moving. Default 30.
	 */
	socketTimeout?: number;
	/** Most outgoing QoS 1/2 messages awaiting acknowledgement. Default 8. */
	inflightWindow?: number;
	/** Bytes the send queue may hold while the transport is full. Default 2 x bufferSize. */
	sendQueueSize?: number;
	onConnect?(info: ConnectInfo): void;
	onClose?(info: CloseInfo): void;
	/** QoS 1/2 messages are acknowledged after this returns (or its promise settles). */
	onMessage?(message: Message): void | PromiseLike<unknown>;
	/** An outgoing QoS 1/2 message was acknowledged; reasonCode >= 0x80 means refused (5.0). */
	onDelivered?(id: number, reasonCode: number): void;
	onSubscribed?(id: number, reasonCodes: number[], subscriptions: Subscription[]): void;
	onUnsubscribed?(id: number, reasonCodes: number[]): void;
	/** A problem that does not close the connection (oversized packet received, publish refused...). */
	onWarning?(warning: Diagnostic): void;
	/** Room again in the send queue after a publish was refused as busy. */
	onWritable?(): void;
}

export interface Will {
	topic: string;
	payload: string | Uint8Array;
	qos?: QoS;
	retain?: boolean;
	properties?: Properties;
}

export interface ConnectOptions {
	host: string;
	port: number;
	tls?: TlsOptions;
	clientId: string;
	username?: string;
	password?: string | Uint8Array;
	/** Clean session (3.1.1) / clean start (5.0). Default true. */
	cleanStart?: boolean;
	/** 5.0 Session Expiry Interval in seconds. Default 0. */
	sessionExpiry?: number;
	will?: Will;
}

export interface PublishOptions {
	qos?: QoS;
	retain?: boolean;
	properties?: Properties;
}

type ClientState = "disconnected" | "connecting" | "connected" | "disconnecting";

/** MQTTClient's hot state (see [HOT]). */
interface Hot {
	state: ClientState;
	transport: Transport | undefined;
	/** Bytes waiting for the transport. */
	queuedBytes: number;
	/**
	 * When bytes were last written to the transport, as a lower bound: the time of the first write
	 * after the last check point (a packet received, the timer), so that the hot path reads the
	 * clock once between check points rather than once a write. Never later than the last write,
	 * so a PINGREQ can come early (by at most the writes between two check points), never late.
	 */
	lastSent: number;
	/** lastSent is a write made since the last check point (the writes after it need no clock). */
	timed: boolean;
	inflight: Map<number, Inflight>;
	server: ServerLimits;
	/** Topic names already checked, as MQTT strings (length and UTF-8; at most TOPIC_CACHE). */
	topics: Map<string, Uint8Array>;
	readonly clock: MqttClock;
	readonly queueLimit: number;
	readonly version: ProtocolVersion;
	readonly bufferSize: number;
	/** socketTimeout after the first PINGREQ not yet followed by a complete packet. */
	pingDeadline: number;
	/** When the last complete packet arrived. */
	lastReceived: number;
	/** When the chunk being decoded arrived. */
	receivedAt: number;
	/** When the packet still incomplete began arriving (Infinity: none). */
	partialSince: number;
	/** Entries of inflight in the "unsent" stage (so an acknowledgement need not scan the map). */
	unsent: number;
	/**
	 * Room the transport surely has: what `writable` last reported, less what was written since
	 * (each write's length plus the transport's `writeOverhead`). A socket's room shrinks only by
	 * our writes, so this never exceeds it; the transport is asked again only when this is too
	 * short, and after `onWritable` or a write by #flush it is 0 (ask again).
	 */
	room: number;
	/** The transport's `allocate`, when it has one. */
	allocate: ((size: number) => Uint8Array) | undefined;
	/** The transport's `writeOverhead` (0 unless it says so). */
	overhead: number;
	/** The in-flight window asked for (options.inflightWindow; the broker's Receive Maximum may lower it). */
	readonly window: number;
	/** The last packet identifier given out. */
	nextId: number;
	/** SUBSCRIBE and UNSUBSCRIBE ids awaiting their acknowledgement (the same maps as #pendingSubscribe, #pendingUnsubscribe). */
	readonly subscribing: Map<number, unknown>;
	readonly unsubscribing: Map<number, unknown>;
}

/**
 * A message in flight: its encoded PUBLISH and QoS (no packet object per message: the rare paths
 * that need the topic or the whole packet decode `encoded`).
 */
interface Inflight {
	encoded: Uint8Array;
	qos: QoS;
	/** unsent: waiting for window room; sent: PUBLISH sent; released: PUBREC received, PUBREL sent. */
	stage: "unsent" | "sent" | "released";
}

interface ServerLimits {
	maximumPacketSize: number;
	/** The largest packet this client sends: the smaller of maximumPacketSize and bufferSize. */
	packetLimit: number;
	receiveMaximum: number;
	maximumQoS: QoS;
	retainAvailable: boolean;
	keepAlive: number;
}

/** The key of MQTTClient's hot state; not exported. */
const HOT: unique symbol = Symbol("mqttclient hot state");

const MAX_ID = 0xffff;
/** Checked topics whose UTF-8 is kept (a device publishes to a handful); the cache empties when full. */
const TOPIC_CACHE = 8;
/**
 * Acknowledgements and PINGREQs that may wait for a transport that takes nothing (the broker keeps
 * sending but does not read): beyond this the link is stalled.
 */
const CONTROL_BACKLOG = 256;
/**
 * MQTT 3.1.1 has no Receive Maximum: incoming QoS 1/2 messages not yet acknowledged (a QoS 1
 * message whose handler still runs, a QoS 2 message awaiting PUBREL) are bounded by this instead
 * (5.0: by the Receive Maximum this client announces, its in-flight window).
 */
const INCOMING_LIMIT_V4 = 256;

/** CONNACK properties that may only be 0 or 1 (MQTT 5.0, 3.2.2.3). */
const BOOLEAN_LIMITS: readonly (readonly [keyof Properties, string])[] = deepFreeze([
	["retainAvailable", "Retain Available"],
	["wildcardSubscriptionAvailable", "Wildcard Subscription Available"],
	["subscriptionIdentifierAvailable", "Subscription Identifier Available"],
	["sharedSubscriptionAvailable", "Shared Subscription Available"],
] as const);

export class MQTTClient {
	/**
	 * The state the publish and acknowledgement paths touch, in one plain object under a symbol
	 * this module keeps to itself. XS finds a private field by walking all of the class's private
	 * methods and fields in order (44 methods come first); an own property keyed by a symbol is
	 * found right after the instance's one private record (docs/decisions.md, 2026-11-30).
	 */
	readonly [HOT]: Hot;
	readonly #o: MQTTClientOptions;
	readonly #window: number;
	readonly #socketTimeoutMs: number;
	readonly #decoder: Decoder;
	#keepAlive: number;

	#generation = 0;
	#connect: Uint8Array | undefined;
	#connectBytes = 0;
	#connectSent = false;
	#cleanStart = true;
	/** The Maximum QoS for which a downgrade was last reported (2: none). */
	#downgradeReported: QoS = 2;
	#timer: TimerHandle | undefined;
	#timerAt = Infinity;
	#connectDeadline = Infinity;
	/** When the last PINGREQ was queued. */
	#lastPing = 0;
	/** Since when queued bytes have been waiting for the transport without any being written (Infinity: not blocked). */
	#blockedSince = Infinity;
	#queue: Uint8Array[] = [];
	/** The control packets (acknowledgements, PINGREQ) in #queue, in order. */
	#control: Uint8Array[] = [];
	#queueOffset = 0;
	#refusedBusy = false;
	#pendingSubscribe = new Map<number, Subscription[]>();
	/** UNSUBSCRIBE ids awaiting UNSUBACK, with the number of topic filters. */
	#pendingUnsubscribe = new Map<number, number>();
	#incomingQos2 = new Set<number>();
	/** Incoming QoS 1 messages whose handler has not settled (their PUBACK is not sent yet). */
	#handlersRunning = 0;

	constructor(options: MQTTClientOptions) {
		this.#o = options;
		const version = options.protocolVersion ?? 4;
		const bufferSize = options.bufferSize ?? 1024;
		this.#window = Math.max(1, Math.min(options.inflightWindow ?? 8, MAX_ID));
		this.#socketTimeoutMs = (options.socketTimeout ?? 30) * 1000;
		this.#keepAlive = options.keepAlive ?? 60;
		if (version !== 4 && version !== 5) throw new RangeError(`protocolVersion must be 4 or 5, not ${String(version)}`);
		if (!(bufferSize >= 64)) throw new RangeError("bufferSize must be at least 64 bytes");
		// XS finds a property by walking the object's list: what publish() reads comes first.
		this[HOT] = {
			topics: new Map<string, Uint8Array>(),
			state: "disconnected",
			server: this.#defaultLimits(bufferSize),
			version,
			transport: undefined,
			queuedBytes: 0,
			room: 0,
			overhead: 0,
			timed: false,
			lastSent: 0,
			clock: options.clock,
			allocate: undefined,
			inflight: new Map<number, Inflight>(),
			window: this.#window,
			nextId: 0,
			unsent: 0,
			subscribing: this.#pendingSubscribe,
			unsubscribing: this.#pendingUnsubscribe,
			queueLimit: options.sendQueueSize ?? 2 * bufferSize,
			bufferSize,
			pingDeadline: Infinity,
			lastReceived: 0,
			receivedAt: 0,
			partialSince: Infinity,
		};
		this.#decoder = new Decoder({
			maxPacketSize: this[HOT].bufferSize,
			protocolVersion: this[HOT].version,
			onPacket: (p) => this.#onPacket(p),
			onOversize: (info) => this.#onOversize(info),
			onError: (e) => this.#protocolError(0x81, `malformed packet from broker: ${e.message}`),
		});
	}

	get state(): ClientState {
		return this[HOT].state;
	}
	get connected(): boolean {
		return this[HOT].state === "connected";
	}
	get protocolVersion(): ProtocolVersion {
		return this[HOT].version;
	}
	/** Outgoing QoS 1/2 messages not yet acknowledged (kept across reconnects). */
	get inflight(): number {
		return this[HOT].inflight.size;
	}
	/** Bytes waiting for the transport. */
	get queuedBytes(): number {
		return this[HOT].queuedBytes;
	}
	/** Largest packet that may be sent now. */
	get maximumPacketSize(): number {
		return this[HOT].server.packetLimit;
	}
	/** True when a publish of the given QoS would be accepted now (connection up, window and queue room). */
	canPublish(qos: QoS = 0): boolean {
		if (this[HOT].state !== "connected" || this[HOT].queuedBytes >= this[HOT].queueLimit) return false;
		return qos === 0 || this[HOT].server.maximumQoS === 0 || this[HOT].inflight.size < this.#effectiveWindow();
	}

	/** Keepalive in seconds requested by the next CONNECT (0 disables). */
	get keepAlive(): number {
		return this.#keepAlive;
	}
	set keepAlive(seconds: number) {
		if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffff) throw new RangeError("keepAlive must be 0..65535 seconds");
		this.#keepAlive = seconds;
	}

	/** Size in bytes of the CONNECT packet these options produce. */
	connectSize(options: ConnectOptions): number {
		return packetSize(this.#connectPacket(options), this[HOT].version);
	}

	connect(options: ConnectOptions): Outcome {
		if (this[HOT].state !== "disconnected") return this.#refuse("already_connected", `cannot connect while ${this[HOT].state}`);
		let packet: ConnectPacket;
		let encoded: Uint8Array;
		try {
			packet = this.#connectPacket(options);
			const size = packetSize(packet, this[HOT].version);
			if (size > this[HOT].bufferSize) {
				return this.#refuse("connect_too_large",
					`CONNECT is ${size} bytes, over the ${this[HOT].bufferSize}-byte buffer`,
					"shorten the credentials, the client id or the will, or raise mqtt.bufferSize");
			}
			encoded = encode(packet, this[HOT].version);
		}
		catch (e) {
			return this.#refuse("invalid_connect", `CONNECT cannot be encoded: ${errorText(e)}`);
		}
		const generation = ++this.#generation;
		this[HOT].state = "connecting";
		this.#connect = encoded;
		this.#connectBytes = encoded.length;
		this.#connectSent = false;
		this.#cleanStart = packet.cleanStart;
		this[HOT].server = this.#defaultLimits(this[HOT].bufferSize);
		this.#decoder.reset(this[HOT].version);
		this.#connectDeadline = this[HOT].clock.now() + this.#socketTimeoutMs;
		this[HOT].pingDeadline = Infinity;
		this[HOT].partialSince = Infinity;
		this.#blockedSince = Infinity;
		this.#schedule();
		const live = () => generation === this.#generation;
		try {
			const transport = this.#o.transport({ host: options.host, port: options.port, tls: options.tls }, {
				onConnect: () => { if (live()) this.#onTransportConnect(); },
				onData: (bytes) => { if (live()) this.#onData(bytes); },
				onWritable: () => { if (live()) this.#onWritable(); },
				onClose: (error) => { if (live()) this.#onTransportClose(error); },
			});
			this[HOT].transport = transport;
			this[HOT].allocate = typeof transport.allocate === "function" ? transport.allocate : undefined;
			this[HOT].room = 0;
			const overhead = transport.writeOverhead;
			this[HOT].overhead = typeof overhead === "number" && overhead > 0 ? overhead : 0;
		}
		catch (e) {
			this.#teardown(transportDiagnostic("io", errorText(e)));
			return { ok: false, error: transportDiagnostic("io", errorText(e)) };
		}
		return { ok: true, id: 0, bytes: encoded.length };
	}

	publish(topic: string, payload: string | Uint8Array, options?: PublishOptions): Outcome {
		// The hot path (see docs/benchmarks.md): the topic's UTF-8 comes from a small cache of
		// checked topics, the packet is written in one allocation without a sizing pass, and goes
		// straight to the transport when nothing waits before it.
		const h = this[HOT];
		let topicBytes = h.topics.get(topic);
		if (topicBytes === undefined) {
			const problem = checkTopicName(topic);
			if (problem) return this.#refuse("invalid_topic", `cannot publish to "${topic}": ${problem}`);
			const utf8 = utf8Encode(topic);
			if (utf8.length > 0xffff) return this.#refuse("invalid_topic", `cannot publish to "${topic}": the topic is longer than 65535 bytes`);
			topicBytes = mqttString(utf8);
			if (h.topics.size >= TOPIC_CACHE) h.topics.clear();
			h.topics.set(topic, topicBytes);
		}
		let requested: QoS = 0;
		let retain = false;
		let properties: Properties | undefined;
		if (options !== undefined) {
			requested = options.qos ?? 0;
			retain = options.retain ?? false;
			properties = options.properties;
			if (requested !== 0 && requested !== 1 && requested !== 2) return this.#refuse("invalid_qos", `QoS ${String(requested)} is not 0, 1 or 2`);
		}
		if (h.state !== "connected") return this.#refuse("not_connected", `cannot publish to ${topic}: not connected`);
		// MQTT 5: never above the broker's Maximum QoS; the message goes at the QoS it allows.
		const server = h.server;
		const qos = requested > server.maximumQoS ? server.maximumQoS : requested;
		if (retain && !server.retainAvailable) return this.#refuse("retain_not_supported", "the broker does not accept retained messages");
		if (qos > 0 && h.inflight.size >= (h.window < server.receiveMaximum ? h.window : server.receiveMaximum))
			return this.#refuse("inflight_full", `${h.inflight.size} messages await acknowledgement (window ${this.#effectiveWindow()})`, "publish again after onDelivered");
		const body = typeof payload === "string" ? utf8Encode(payload) : payload;
		const id = qos > 0 ? this.#allocateId() : 0;
		let encoded: Uint8Array;
		if (properties !== undefined && h.version === 5) {
			const packet: PublishPacket = { type: "publish", topic, payload: body, qos, retain, dup: false, properties };
			if (qos > 0) packet.id = id;
			const bounded = this.#encodeBounded(packet, `PUBLISH to ${topic}`);
			if (!(bounded instanceof Uint8Array)) return bounded;
			encoded = bounded;
		}
		else {
			const bytes = encodePublish(topicBytes, body, qos, retain, id, h.version === 5, server.packetLimit, h.allocate);
			if (typeof bytes === "number") return this.#tooLarge(`PUBLISH to ${topic}`, bytes, server.packetLimit);
			encoded = bytes;
		}
		const transport = h.transport;
		const size = encoded.length;
		if (h.queuedBytes === 0 && transport !== undefined && (h.room >= size || (h.room = transport.writable) >= size)) {
			// Nothing waits and the transport has room (known from the last answer, or asked again):
			// straight to it (#enqueue's first case, inline).
			h.room -= size + h.overhead;
			try {
				transport.write(encoded);
			}
			catch (e) {
				this.#teardown(transportDiagnostic("io", `write failed: ${errorText(e)}`));
			}
			if (!h.timed) {
				h.timed = true;
				h.lastSent = h.clock.now();
			}
		}
		else if (!this.#enqueue(encoded, true)) return this.#busy(`PUBLISH to ${topic}`);
		if (qos > 0) h.inflight.set(id, { encoded, qos, stage: "sent" });
		if (qos < requested) this.#reportDowngrade(requested);
		return { ok: true, id, bytes: size, qos };
	}

	subscribe(subscriptions: Subscription | Subscription[]): Outcome {
		const list = Array.isArray(subscriptions) ? subscriptions : [subscriptions];
		for (const s of list) {
			const problem = checkTopicFilter(s.topic);
			if (problem) return this.#refuse("invalid_topic", `cannot subscribe to "${s.topic}": ${problem}`);
		}
		if (this[HOT].state !== "connected") return this.#refuse("not_connected", "cannot subscribe: not connected");
		const id = this.#allocateId();
		const encoded = this.#encodeBounded({ type: "subscribe", id, subscriptions: list }, "SUBSCRIBE");
		if (!(encoded instanceof Uint8Array)) return encoded;
		if (!this.#enqueue(encoded, true)) return this.#busy("SUBSCRIBE");
		this.#pendingSubscribe.set(id, list);
		return { ok: true, id, bytes: encoded.length };
	}

	unsubscribe(topics: string | string[]): Outcome {
		const list = Array.isArray(topics) ? topics : [topics];
		if (this[HOT].state !== "connected") return this.#refuse("not_connected", "cannot unsubscribe: not connected");
		const id = this.#allocateId();
		const encoded = this.#encodeBounded({ type: "unsubscribe", id, topics: list }, "UNSUBSCRIBE");
		if (!(encoded instanceof Uint8Array)) return encoded;
		if (!this.#enqueue(encoded, true)) return this.#busy("UNSUBSCRIBE");
		this.#pendingUnsubscribe.set(id, list.length);
		return { ok: true, id, bytes: encoded.length };
	}

	/** Sends DISCONNECT (the broker discards the will) and closes once it is written. */
	disconnect(reasonCode = 0): void {
		if (this[HOT].state === "connected") {
			const packet = this[HOT].version === 5 && reasonCode ? { type: "disconnect" as const, reasonCode } : { type: "disconnect" as const };
			this[HOT].state = "disconnecting";
			this.#enqueue(encode(packet, this[HOT].version), false);
			this.#connectDeadline = this[HOT].clock.now() + this.#socketTimeoutMs;
			this.#schedule();
			this.#flush();
			return;
		}
		if (this[HOT].state === "connecting") this.#teardown(diagnostic("client_disconnect", STATE.DISCONNECTED, "connection attempt abandoned by the client"));
	}

	/** Drops the connection without DISCONNECT (the broker publishes the will). */
	close(): void {
		if (this[HOT].state !== "disconnected") this.#teardown(diagnostic("client_close", STATE.DISCONNECTED, "connection closed by the client"));
	}

	/** Forgets unacknowledged outgoing messages (they will not be sent again). Returns how many. */
	discardInflight(): number {
		const n = this[HOT].inflight.size;
		this[HOT].inflight.clear();
		this[HOT].unsent = 0;
		return n;
	}

	/* --------------------------------------------------------------------------------- */

	#defaultLimits(bufferSize: number): ServerLimits {
		return { maximumQoS: 2, packetLimit: bufferSize, retainAvailable: true, receiveMaximum: MAX_ID, maximumPacketSize: Infinity, keepAlive: this.#keepAlive };
	}

	#effectiveWindow(): number {
		return Math.min(this[HOT].window, this[HOT].server.receiveMaximum);
	}

	#connectPacket(o: ConnectOptions): ConnectPacket {
		const packet: ConnectPacket = {
			type: "connect",
			protocolVersion: this[HOT].version,
			clientId: o.clientId,
			keepAlive: this.#keepAlive,
			cleanStart: o.cleanStart ?? true,
		};
		if (o.username !== undefined) packet.username = o.username;
		if (o.password !== undefined) packet.password = typeof o.password === "string" ? utf8Encode(o.password) : o.password;
		if (o.will) {
			packet.will = {
				topic: o.will.topic,
				payload: typeof o.will.payload === "string" ? utf8Encode(o.will.payload) : o.will.payload,
				qos: o.will.qos ?? 0,
				retain: o.will.retain ?? false,
			};
			if (this[HOT].version === 5 && o.will.properties) packet.will.properties = o.will.properties;
		}
		if (this[HOT].version === 5) {
			const props: Properties = { maximumPacketSize: this[HOT].bufferSize, receiveMaximum: this.#window };
			if (o.sessionExpiry) props.sessionExpiryInterval = o.sessionExpiry;
			packet.properties = props;
		}
		return packet;
	}

	#refuse(code: string, message: string, fix?: string): Outcome {
		return { ok: false, error: diagnostic(code, this[HOT].state === "connected" ? STATE.CONNECTED : STATE.DISCONNECTED, message, fix) };
	}

	#busy(what: string): Outcome {
		this.#refusedBusy = true;
		return this.#refuse("busy", `${what} refused: the send queue is full (${this[HOT].queuedBytes} bytes waiting for the network)`, "retry after onWritable");
	}

	#encodeBounded(packet: Packet, what: string): Uint8Array | Outcome {
		try {
			const limit = this.maximumPacketSize;
			const bytes = encodeWithin(packet, this[HOT].version, limit);
			return typeof bytes === "number" ? this.#tooLarge(what, bytes, limit) : bytes;
		}
		catch (e) {
			return this.#refuse("invalid_packet", `${what} cannot be encoded: ${errorText(e)}`);
		}
	}

	#tooLarge(what: string, size: number, limit: number): Outcome {
		const whose = limit < this[HOT].bufferSize ? "the broker's Maximum Packet Size" : "the buffer";
		return this.#refuse("packet_too_large", `${what} is ${size} bytes, over ${whose} of ${limit} bytes; nothing was sent`,
			"send a smaller payload or raise mqtt.bufferSize");
	}

	#allocateId(): number {
		const h = this[HOT];
		for (let i = 0; i < MAX_ID; i++) {
			const id = h.nextId = h.nextId >= MAX_ID ? 1 : h.nextId + 1;
			if (!h.inflight.has(id) && (h.subscribing.size === 0 || !h.subscribing.has(id)) && (h.unsubscribing.size === 0 || !h.unsubscribing.has(id))) return id;
		}
		throw new Error("no free packet identifier");
	}

	/* Sending ------------------------------------------------------------------------- */

	/**
	 * Queues bytes for the transport. `bounded` packets (the application's) are refused when the
	 * queue is full; `control` packets (acknowledgements, PINGREQ) are counted, and too many of them
	 * waiting means the broker sends but does not read: the link is stalled.
	 */
	#enqueue(bytes: Uint8Array, bounded: boolean, control = false): boolean {
		const h = this[HOT];
		const transport = h.transport;
		if (!transport) return false;
		const size = bytes.length;
		if (bounded && h.queuedBytes === 0 && h.state === "connected" && (h.room >= size || (h.room = transport.writable) >= size)) {
			// Nothing waits and the transport has room: straight to it, as #flush would.
			h.room -= size + h.overhead;
			try {
				transport.write(bytes);
			}
			catch (e) {
				this.#teardown(transportDiagnostic("io", `write failed: ${errorText(e)}`));
				return true;
			}
			if (!h.timed) {
				h.timed = true;
				h.lastSent = h.clock.now();
			}
			return true;
		}
		if (bounded && this[HOT].queuedBytes > 0 && this[HOT].queuedBytes + bytes.length > this[HOT].queueLimit) return false;
		if (control) {
			if (this.#control.length >= CONTROL_BACKLOG) {
				this.#teardown(diagnostic("link_stalled", STATE.CONNECTION_TIMEOUT,
					`${this.#control.length} acknowledgements and pings wait to be sent (${this[HOT].queuedBytes} bytes): the broker keeps sending but does not read what this client writes`,
					"the device reconnects; if this repeats, check the network path and the broker's load"));
				return false;
			}
			this.#control.push(bytes);
		}
		this.#queue.push(bytes);
		this[HOT].queuedBytes += bytes.length;
		this.#flush();
		return true;
	}

	#onWritable(): void {
		this[HOT].room = 0;
		try {
			this.#flush();
		}
		catch (e) {
			this.#internalError("the transport's onWritable", e);
		}
	}

	#flush(): void {
		const transport = this[HOT].transport;
		if (!transport) return;
		// Asks the transport each time; what is left of the room afterwards is unknown.
		this[HOT].room = 0;
		let wrote = false;
		try {
			while (this.#queue.length) {
				const room = transport.writable;
				if (room <= 0) break;
				const head = this.#queue[0];
				const n = Math.min(room, head.length - this.#queueOffset);
				transport.write(this.#queueOffset === 0 && n === head.length ? head : head.subarray(this.#queueOffset, this.#queueOffset + n));
				wrote = true;
				this[HOT].queuedBytes -= n;
				this.#queueOffset += n;
				if (this.#queueOffset === head.length) {
					this.#queue.shift();
					if (this.#control[0] === head) this.#control.shift();
					this.#queueOffset = 0;
				}
			}
		}
		catch (e) {
			this.#teardown(transportDiagnostic("io", `write failed: ${errorText(e)}`));
			return;
		}
		if (wrote) {
			this[HOT].lastSent = this[HOT].clock.now();
			this[HOT].timed = true;
		}
		if (this.#queue.length) {
			// The transport takes nothing more for now: bytes that do not start moving within the
			// socket timeout mean a stalled link.
			const blocked = this.#blockedSince;
			if (wrote) this.#blockedSince = this[HOT].lastSent;
			else if (blocked === Infinity) this.#blockedSince = this[HOT].clock.now();
			if (blocked === Infinity) this.#schedule();
			return;
		}
		this.#blockedSince = Infinity;
		if (this[HOT].state === "disconnecting") {
			this.#teardown(diagnostic("client_disconnect", STATE.DISCONNECTED, "disconnected by the client"));
			return;
		}
		if (this.#refusedBusy && this[HOT].queuedBytes < this[HOT].queueLimit) {
			this.#refusedBusy = false;
			this.#notify("onWritable", () => this.#o.onWritable?.());
		}
	}

	/** Sends a control packet (acknowledgement, PINGREQ); `id`s come from packets the codec checked. */
	#sendPacket(packet: Packet): void {
		this.#enqueue(encode(packet, this[HOT].version), false, true);
	}

	/* Receiving ----------------------------------------------------------------------- */

	#onTransportConnect(): void {
		try {
			if (this[HOT].state !== "connecting" || !this.#connect) return;
			this.#connectSent = true;
			this.#enqueue(this.#connect, false);
			this.#connect = undefined;
		}
		catch (e) {
			this.#internalError("the transport's onConnect", e);
		}
	}

	#onData(bytes: Uint8Array): void {
		try {
			// Only a complete packet counts as progress (#progress): bytes of a packet that stops
			// arriving prove nothing.
			this[HOT].receivedAt = this[HOT].clock.now();
			// A check point for lastSent: the next write reads the clock again.
			this[HOT].timed = false;
			this.#decoder.push(bytes);
			if (this[HOT].partialSince === Infinity && this[HOT].state === "connected" && this.#decoder.pending) {
				this[HOT].partialSince = this[HOT].receivedAt;
				this.#schedule();
			}
		}
		catch (e) {
			this.#internalError("data from the broker", e);
		}
	}

	/** A complete packet arrived (decoded or drained). */
	#progress(): void {
		const h = this[HOT];
		h.lastReceived = h.receivedAt;
		h.partialSince = Infinity;
		if (h.pingDeadline !== Infinity) {
			h.pingDeadline = Infinity;
			// The next PINGREQ is due a keepalive after the last traffic, maybe before the timer.
			this.#schedule();
		}
	}

	#onTransportClose(error?: TransportError): void {
		try {
			this.#teardown(this.#closeDiagnostic(error));
		}
		catch (e) {
			this.#internalError("the transport's onClose", e);
		}
	}

	#closeDiagnostic(error?: TransportError): Diagnostic {
		if (error) return transportDiagnostic(error.code, error.message);
		if (this[HOT].state === "connecting") {
			return this.#connectSent
				? diagnostic("connection_lost", STATE.CONNECTION_LOST, "the broker closed the connection before CONNACK",
					"the broker dropped the CONNECT: check its log (protocol version, client id, credentials, TLS expected?)")
				: transportDiagnostic("closed", "before the connection was established");
		}
		// A broker closes a connection it has not heard from for 1.5 x keepalive: say so when the
		// close came after at least a keepalive of silence from this client.
		const keepAliveMs = this[HOT].server.keepAlive * 1000;
		const silentMs = this[HOT].clock.now() - this[HOT].lastSent;
		if (this[HOT].state === "connected" && keepAliveMs && silentMs >= keepAliveMs)
			return keepaliveCloseDiagnostic(Math.round(silentMs / 100) / 10, this[HOT].server.keepAlive);
		return transportDiagnostic("closed");
	}

	#onPacket(packet: Packet): void {
		this.#progress();
		if (this[HOT].state === "connecting") {
			if (packet.type === "connack" && this.#connectSent) this.#onConnack(packet);
			else if (packet.type === "auth") this.#protocolError(0x82, "the broker asked for enhanced authentication, which this client does not do");
			else this.#protocolError(0x82, `${packet.type.toUpperCase()} received before CONNACK`);
			return;
		}
		switch (packet.type) {
			case "publish": this.#onPublish(packet); break;
			case "puback": this.#onPuback(packet); break;
			case "pubrec": this.#onPubrec(packet); break;
			case "pubrel": this.#onPubrel(packet); break;
			case "pubcomp": this.#onPubcomp(packet); break;
			case "suback": this.#onSuback(packet.id, packet.reasonCodes); break;
			case "unsuback": this.#onUnsuback(packet.id, packet.reasonCodes); break;
			case "pingresp": break;
			case "disconnect": this.#teardown(disconnectDiagnostic(packet.reasonCode ?? 0, packet.properties?.reasonString)); break;
			default: this.#protocolError(0x82, `unexpected ${packet.type.toUpperCase()} from the broker`);
		}
	}

	#onConnack(packet: ConnackPacket): void {
		if (packet.reasonCode !== 0) {
			this.#teardown(connackDiagnostic(this[HOT].version, packet.reasonCode, packet.properties?.reasonString));
			return;
		}
		if (packet.sessionPresent && this.#cleanStart) {
			this.#protocolError(0x82, "CONNACK has Session Present 1 after a clean start: the broker cannot have a session to resume");
			return;
		}
		const props = packet.properties ?? {};
		const problem = connackLimitProblem(props);
		if (problem) {
			this.#protocolError(0x82, `CONNACK ${problem}`);
			return;
		}
		// In the order publish() reads them (see the constructor).
		this[HOT].server = {
			maximumQoS: (props.maximumQoS ?? 2) as QoS,
			packetLimit: Math.min(this[HOT].bufferSize, props.maximumPacketSize ?? Infinity),
			retainAvailable: props.retainAvailable !== 0,
			receiveMaximum: props.receiveMaximum ?? MAX_ID,
			maximumPacketSize: props.maximumPacketSize ?? Infinity,
			keepAlive: props.serverKeepAlive ?? this.#keepAlive,
		};
		this[HOT].state = "connected";
		this.#connectDeadline = Infinity;
		this[HOT].lastReceived = this[HOT].receivedAt;
		// Incoming QoS 2 ids awaiting PUBREL belong to the session: kept when it resumed, so a
		// PUBLISH the broker sends again is not delivered twice.
		if (!packet.sessionPresent) this.#incomingQos2.clear();
		const generation = this.#generation;
		const downgraded = this.#obeyMaximumQoS();
		const resent = this.#resendInflight(packet.sessionPresent);
		if (generation !== this.#generation) return;
		this.#schedule();
		const info: ConnectInfo = {
			sessionPresent: packet.sessionPresent,
			connectBytes: this.#connectBytes,
			keepAlive: this[HOT].server.keepAlive,
			maximumPacketSize: this.maximumPacketSize,
			resent: resent + downgraded.length,
		};
		if (props.assignedClientIdentifier) info.assignedClientId = props.assignedClientIdentifier;
		if (packet.properties) info.properties = packet.properties;
		this.#notify("onConnect", () => this.#o.onConnect?.(info));
		for (const id of downgraded) {
			if (generation !== this.#generation) return;
			this.#notify("onDelivered", () => this.#o.onDelivered?.(id, 0));
		}
	}

	/**
	 * Messages kept from an earlier connection above the broker's Maximum QoS go at the QoS it
	 * allows: QoS 2 as QoS 1 (same id, still in flight); QoS 0 is sent now and leaves the window.
	 * Returns the ids sent at QoS 0 (reported delivered: nothing more will come for them).
	 */
	#obeyMaximumQoS(): number[] {
		const max = this[HOT].server.maximumQoS;
		const sent: number[] = [];
		if (max === 2) return sent;
		for (const [id, entry] of this[HOT].inflight) {
			if (entry.qos <= max || entry.stage === "released") continue;
			this.#reportDowngrade(entry.qos);
			const packet = this.#inflightPacket(entry);
			const lower: PublishPacket = { ...packet, qos: max, dup: false };
			if (max === 0) {
				delete lower.id;
				this[HOT].inflight.delete(id);
				this.#enqueue(encode(lower, this[HOT].version), false);
				sent.push(id);
			}
			else {
				entry.qos = max;
				entry.encoded = encode(lower, this[HOT].version);
			}
		}
		return sent;
	}

	/** The PUBLISH of a message in flight, decoded from its bytes (our own encoding: it decodes). */
	#inflightPacket(entry: Inflight): PublishPacket {
		return decodePacket(entry.encoded, this[HOT].version) as PublishPacket;
	}

	#reportDowngrade(requested: QoS): void {
		const max = this[HOT].server.maximumQoS;
		if (this.#downgradeReported === max) return;
		this.#downgradeReported = max;
		this.#warn("qos_downgraded",
			`the broker accepts QoS ${max} at most (CONNACK Maximum QoS): messages asked for at QoS ${requested}${max === 0 ? " or 2" : ""} are sent at QoS ${max}` +
			(max === 0 ? ", without acknowledgement" : ""),
			`allow QoS ${requested} on the broker, or publish at QoS ${max} (mqtt.qos)`);
	}

	#resendInflight(sessionPresent: boolean): number {
		let sent = 0;
		const window = this.#effectiveWindow();
		for (const [id, entry] of this[HOT].inflight) {
			if (sent >= window) {
				// Waits for a PUBACK, then goes as the ones in the window do: a redelivery (DUP) when
				// the session resumed.
				if (sessionPresent) entry.encoded[0] |= 0x08;
				else entry.encoded[0] &= ~0x08;
				entry.stage = "unsent";
				continue;
			}
			// Not a control packet: one per message in flight, bounded by the window.
			if (entry.stage === "released" && sessionPresent) this.#enqueue(encode({ type: "pubrel", id }, this[HOT].version), false);
			else {
				entry.stage = "sent";
				if (sessionPresent) entry.encoded[0] |= 0x08;
				else entry.encoded[0] &= ~0x08;
				this.#enqueue(entry.encoded, false);
			}
			sent++;
		}
		this.#countUnsent();
		return sent;
	}

	#countUnsent(): void {
		let n = 0;
		for (const entry of this[HOT].inflight.values()) if (entry.stage === "unsent") n++;
		this[HOT].unsent = n;
	}

	#sendWaiting(): void {
		if (this[HOT].unsent === 0) return;
		let sent = 0;
		for (const entry of this[HOT].inflight.values()) if (entry.stage !== "unsent") sent++;
		for (const entry of this[HOT].inflight.values()) {
			if (sent >= this.#effectiveWindow()) return;
			if (entry.stage !== "unsent") continue;
			entry.stage = "sent";
			this[HOT].unsent--;
			this.#enqueue(entry.encoded, false);
			sent++;
		}
	}

	/**
	 * Whether one more incoming QoS 1/2 message may be left unacknowledged; if not, the connection
	 * is closed (MQTT 5: the broker exceeded the Receive Maximum this client announced).
	 */
	#admitIncoming(): boolean {
		const limit = this[HOT].version === 5 ? this.#window : INCOMING_LIMIT_V4;
		if (this.#handlersRunning + this.#incomingQos2.size < limit) return true;
		this.#protocolError(0x93, this[HOT].version === 5
			? `the broker sent more than ${limit} QoS 1/2 messages without waiting for their acknowledgement (Receive Maximum ${limit})`
			: `the broker left ${limit} QoS 1/2 messages unacknowledged (QoS 2 without PUBREL, or QoS 1 whose handler has not finished), the most this client keeps`);
		return false;
	}

	#onPublish(packet: PublishPacket): void {
		if (packet.properties?.topicAlias !== undefined) {
			this.#protocolError(0x94, "the broker used a Topic Alias although this client allows none (Topic Alias Maximum 0)");
			return;
		}
		const problem = checkTopicName(packet.topic);
		if (problem) {
			this.#protocolError(0x82, `PUBLISH from the broker with the topic "${packet.topic}": ${problem}`);
			return;
		}
		if (packet.qos === 2 && this.#incomingQos2.has(packet.id!)) {
			this.#sendPacket({ type: "pubrec", id: packet.id! });
			return;
		}
		if (packet.qos > 0 && !this.#admitIncoming()) return;
		const message: Message = { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup };
		if (packet.properties) message.properties = packet.properties;
		if (packet.qos === 2) this.#incomingQos2.add(packet.id!);
		const generation = this.#generation;
		const acknowledge = () => {
			if (generation !== this.#generation || this[HOT].state !== "connected" || packet.qos === 0) return;
			this.#sendPacket({ type: packet.qos === 1 ? "puback" : "pubrec", id: packet.id! });
		};
		let result: void | PromiseLike<unknown> = undefined;
		try {
			result = this.#o.onMessage?.(message);
		}
		catch (e) {
			this.#warn("handler_error", `message handler for ${packet.topic} threw: ${errorText(e)}`);
		}
		if (!result || typeof (result as PromiseLike<unknown>).then !== "function") {
			acknowledge();
			return;
		}
		// Acknowledged once the handler's promise settles.
		const counted = packet.qos === 1;
		if (counted) this.#handlersRunning++;
		let settled = false;
		const settle = () => {
			if (settled) return;
			settled = true;
			try {
				if (counted && generation === this.#generation) this.#handlersRunning--;
				acknowledge();
			}
			catch (e) {
				this.#internalError("a message handler's completion", e);
			}
		};
		try {
			result.then(settle, (e: unknown) => {
				this.#warn("handler_error", `message handler for ${packet.topic} failed: ${errorText(e)}`);
				settle();
			});
		}
		catch (e) {
			this.#warn("handler_error", `message handler for ${packet.topic} returned a promise that threw: ${errorText(e)}`);
			settle();
		}
	}

	#onPuback(packet: AckPacket): void {
		const entry = this[HOT].inflight.get(packet.id);
		if (!entry || entry.qos !== 1) {
			this.#warn("unknown_packet_id", `PUBACK for packet id ${packet.id}, which is not awaiting one`);
			return;
		}
		this.#delivered(packet, "PUBLISH");
	}

	#onPubrec(packet: AckPacket): void {
		const entry = this[HOT].inflight.get(packet.id);
		if (!entry || entry.qos !== 2) {
			if (this[HOT].version === 5) this.#sendPacket({ type: "pubrel", id: packet.id, reasonCode: 0x92 });
			else this.#sendPacket({ type: "pubrel", id: packet.id });
			return;
		}
		if ((packet.reasonCode ?? 0) >= 0x80) {
			this.#delivered(packet, "PUBLISH");
			return;
		}
		if (entry.stage === "unsent") this[HOT].unsent--;
		entry.stage = "released";
		this.#sendPacket({ type: "pubrel", id: packet.id });
	}

	#onPubcomp(packet: AckPacket): void {
		const entry = this[HOT].inflight.get(packet.id);
		if (!entry || entry.stage !== "released") {
			this.#warn("unknown_packet_id", `PUBCOMP for packet id ${packet.id}, which is not awaiting one`);
			return;
		}
		this.#delivered(packet, "PUBLISH");
	}

	#delivered(packet: AckPacket, what: string): void {
		const h = this[HOT];
		const id = packet.id;
		const entry = h.inflight.get(id)!;
		h.inflight.delete(id);
		if (entry.stage === "unsent") h.unsent--;
		const rc = packet.reasonCode ?? 0;
		const o = this.#o;
		if (rc >= 0x80) {
			const d = ackDiagnostic(`${what} to ${this.#inflightPacket(entry).topic}`, rc, packet.properties?.reasonString);
			this.#notify("onWarning", () => o.onWarning?.(d));
		}
		// Not through #notify: no closure per acknowledgement.
		const onDelivered = o.onDelivered;
		if (onDelivered) {
			try {
				onDelivered.call(o, id, rc);
			}
			catch (e) {
				this.#notify("onDelivered", () => { throw e; });
			}
		}
		if (h.unsent !== 0) this.#sendWaiting();
	}

	#onPubrel(packet: AckPacket): void {
		const known = this.#incomingQos2.delete(packet.id);
		// 5.0: PUBCOMP 0x92 when the id is not awaiting PUBREL (4.3.3).
		if (!known && this[HOT].version === 5) this.#sendPacket({ type: "pubcomp", id: packet.id, reasonCode: 0x92 });
		else this.#sendPacket({ type: "pubcomp", id: packet.id });
	}

	#onSuback(id: number, reasonCodes: number[]): void {
		const subscriptions = this.#pendingSubscribe.get(id);
		if (!subscriptions) {
			this.#warn("unknown_packet_id", `SUBACK for packet id ${id}, which is not awaiting one`);
			return;
		}
		if (reasonCodes.length !== subscriptions.length) {
			this.#protocolError(0x82, `SUBACK for packet id ${id} has ${reasonCodes.length} return codes for ${subscriptions.length} topic filters`);
			return;
		}
		for (const rc of reasonCodes) {
			// Granted QoS 0..2, or a failure: 0x80 (3.1.1), 0x80 and up (5.0).
			if (rc > 2 && (this[HOT].version === 5 ? rc < 0x80 : rc !== 0x80)) {
				this.#protocolError(0x82, `SUBACK return code ${rc} (0x${rc.toString(16)}) is reserved, not a valid answer`);
				return;
			}
		}
		this.#pendingSubscribe.delete(id);
		reasonCodes.forEach((rc, i) => {
			if (rc >= 0x80) this.#notify("onWarning", () => this.#o.onWarning?.(ackDiagnostic(`SUBSCRIBE to ${subscriptions[i]?.topic ?? "?"}`, rc)));
		});
		this.#notify("onSubscribed", () => this.#o.onSubscribed?.(id, reasonCodes, subscriptions));
	}

	#onUnsuback(id: number, reasonCodes: number[] | undefined): void {
		const count = this.#pendingUnsubscribe.get(id);
		if (count === undefined) {
			this.#warn("unknown_packet_id", `UNSUBACK for packet id ${id}, which is not awaiting one`);
			return;
		}
		if (this[HOT].version === 5 && reasonCodes?.length !== count) {
			this.#protocolError(0x82, `UNSUBACK for packet id ${id} has ${reasonCodes?.length ?? 0} reason codes for ${count} topic filters`);
			return;
		}
		this.#pendingUnsubscribe.delete(id);
		this.#notify("onUnsubscribed", () => this.#o.onUnsubscribed?.(id, reasonCodes ?? []));
	}

	#onOversize(info: OversizeInfo): void {
		this.#progress();
		const what = info.type.toUpperCase();
		if (info.type !== "publish" || this[HOT].state === "connecting") {
			// Nothing but a message can be dropped without losing the session's state.
			this.#protocolError(0x95, `the broker sent a ${what} of ${info.size} bytes, over the ${this[HOT].bufferSize}-byte buffer: it cannot be processed`);
			return;
		}
		const topic = info.topic !== undefined ? ` on ${info.topic}` : "";
		this.#warn("packet_too_large_inbound",
			`dropped an incoming ${what}${topic} of ${info.size} bytes: over the ${this[HOT].bufferSize}-byte buffer`,
			"the sender should publish smaller messages to this device, or raise mqtt.bufferSize");
		if (info.id === undefined || this[HOT].state !== "connected") return;
		// Acknowledge it so the broker does not hold it in flight forever; it cannot be processed.
		// 5.0: with a failure code (a PUBREC >= 0x80 ends the QoS 2 exchange); 3.1.1: the exchange
		// goes on to PUBREL, which must find the id.
		if (info.qos === 2 && this[HOT].version === 4) {
			if (!this.#incomingQos2.has(info.id)) {
				if (!this.#admitIncoming()) return;
				this.#incomingQos2.add(info.id);
			}
		}
		const reasonCode = this[HOT].version === 5 ? 0x80 : undefined;
		this.#sendPacket({ type: info.qos === 2 ? "pubrec" : "puback", id: info.id, reasonCode });
	}

	/**
	 * Calls an application callback. An exception there is the application's bug: it is reported as
	 * a warning and must not break the byte stream being decoded.
	 */
	#notify(name: string, callback: () => void): void {
		try {
			callback();
		}
		catch (e) {
			if (name === "onWarning") return;
			const d = diagnostic("callback_error", this[HOT].state === "connected" ? STATE.CONNECTED : STATE.DISCONNECTED, `${name} threw: ${errorText(e)}`);
			try {
				this.#o.onWarning?.(d);
			}
			catch {
				// Nothing more can be done.
			}
		}
	}

	#warn(code: string, message: string, fix?: string): void {
		const d = diagnostic(code, this[HOT].state === "connected" ? STATE.CONNECTED : STATE.DISCONNECTED, message, fix);
		this.#notify("onWarning", () => this.#o.onWarning?.(d));
	}

	#protocolError(reasonCode: number, message: string): void {
		if (this[HOT].state === "disconnected") return;
		const transport = this[HOT].transport;
		// 5.0: DISCONNECT with the reason, unless the bytes would land in the middle of a packet
		// being written or do not fit now (the connection is closed at once anyway).
		if (this[HOT].version === 5 && transport && this.#queueOffset === 0 && (this[HOT].state === "connected" || this.#connectSent)) {
			try {
				const bytes = encode({ type: "disconnect", reasonCode }, 5);
				if (transport.writable >= bytes.length) transport.write(bytes);
			}
			catch {
				// The connection is being torn down anyway.
			}
		}
		this.#teardown(diagnostic("protocol_error", STATE.CONNECTION_LOST, message,
			"the broker sent something this client cannot accept; see the broker's version and log"));
	}

	/**
	 * Last resort: a handler threw although nothing from the network or the transport may make it
	 * throw (a bug). The connection is closed with a diagnostic instead of letting the exception
	 * escape into a socket or timer callback, which on XS restarts the board.
	 */
	#internalError(where: string, e: unknown): void {
		try {
			this.#teardown(diagnostic("internal_error", STATE.CONNECTION_LOST, `the MQTT client failed while handling ${where}: ${errorText(e)}`,
				"a bug in the MQTT client: report it with this message; the device reconnects"));
		}
		catch {
			// Nothing more can be done.
		}
	}

	/* Timers -------------------------------------------------------------------------- */

	#deadline(): number {
		if (this[HOT].state === "connecting" || this[HOT].state === "disconnecting") return this.#connectDeadline;
		if (this[HOT].state !== "connected") return Infinity;
		const socketTimeoutMs = this.#socketTimeoutMs;
		let at = Math.min(this[HOT].partialSince + socketTimeoutMs, this.#blockedSince + socketTimeoutMs);
		const keepAliveMs = this[HOT].server.keepAlive * 1000;
		if (!keepAliveMs) return at;
		if (this[HOT].pingDeadline === Infinity) return Math.min(at, Math.min(this[HOT].lastSent, this[HOT].lastReceived) + keepAliveMs);
		// Awaiting an answer: the deadline stands; meanwhile the broker still hears from us every keepalive.
		at = Math.min(at, this[HOT].pingDeadline);
		return Math.min(at, Math.max(this[HOT].lastSent, this.#lastPing) + keepAliveMs);
	}

	/** Arms the timer for the next deadline, unless it fires no later than that already (#onTimer re-arms it). */
	#schedule(): void {
		const at = this.#deadline();
		if (this.#timer !== undefined) {
			if (this.#timerAt <= at) return;
			this[HOT].clock.clear(this.#timer);
			this.#timer = undefined;
		}
		this.#timerAt = at;
		if (at === Infinity) return;
		this.#timer = this[HOT].clock.set(() => {
			this.#timer = undefined;
			this.#timerAt = Infinity;
			try {
				this.#onTimer();
			}
			catch (e) {
				this.#internalError("a timer", e);
			}
		}, Math.max(0, at - this[HOT].clock.now()));
	}

	#onTimer(): void {
		const now = this[HOT].clock.now();
		// A check point for lastSent (see Hot.lastSent).
		this[HOT].timed = false;
		if (this[HOT].state === "connecting" && now >= this.#connectDeadline) {
			const what = this.#connectSent ? "no CONNACK" : "TCP/TLS connection not established";
			this.#teardown(transportDiagnostic("timeout", `${what} within ${this.#socketTimeoutMs / 1000} s`));
			return;
		}
		if (this[HOT].state === "disconnecting" && now >= this.#connectDeadline) {
			this.#teardown(diagnostic("client_disconnect", STATE.DISCONNECTED, "disconnected by the client (DISCONNECT could not be flushed)"));
			return;
		}
		if (this[HOT].state === "connected" && !this.#checkLink(now)) return;
		this.#schedule();
	}

	/** Closes a dead or stalled connection (false), or sends PINGREQ when due. */
	#checkLink(now: number): boolean {
		const seconds = this.#socketTimeoutMs / 1000;
		if (now >= this[HOT].pingDeadline) {
			this.#teardown(diagnostic("keepalive_timeout", STATE.CONNECTION_TIMEOUT,
				`no answer from the broker within ${seconds} s of PINGREQ: the connection is half-open or the broker is stuck`,
				"the device reconnects; if this repeats, check the network path (NAT timeouts, WiFi power saving)"));
			return false;
		}
		if (now >= this[HOT].partialSince + this.#socketTimeoutMs) {
			this.#teardown(diagnostic("link_stalled", STATE.CONNECTION_TIMEOUT,
				`a packet from the broker began arriving ${Math.round((now - this[HOT].partialSince) / 100) / 10} s ago and is still incomplete: the link or the broker has stalled`,
				"the device reconnects; if this repeats, check the network path and the broker"));
			return false;
		}
		if (now >= this.#blockedSince + this.#socketTimeoutMs) {
			this.#teardown(diagnostic("link_stalled", STATE.CONNECTION_TIMEOUT,
				`the network has taken none of the ${this[HOT].queuedBytes} bytes waiting to be sent for ${Math.round((now - this.#blockedSince) / 100) / 10} s: the link has stalled or the broker does not read`,
				"the device reconnects; if this repeats, check the network path and the broker's load"));
			return false;
		}
		const keepAliveMs = this[HOT].server.keepAlive * 1000;
		if (!keepAliveMs) return true;
		if (this[HOT].pingDeadline === Infinity) {
			if (now >= Math.min(this[HOT].lastSent, this[HOT].lastReceived) + keepAliveMs) {
				this[HOT].pingDeadline = now + this.#socketTimeoutMs;
				this.#ping(now);
			}
		}
		else if (now >= Math.max(this[HOT].lastSent, this.#lastPing) + keepAliveMs) this.#ping(now);
		return this[HOT].state === "connected";
	}

	#ping(now: number): void {
		this.#lastPing = now;
		this.#sendPacket({ type: "pingreq" });
	}

	/* Teardown ------------------------------------------------------------------------ */

	#teardown(reason: Diagnostic): void {
		if (this[HOT].state === "disconnected") return;
		const wasConnected = this[HOT].state === "connected" || this[HOT].state === "disconnecting";
		this.#generation++;
		this[HOT].state = "disconnected";
		if (this.#timer !== undefined) this[HOT].clock.clear(this.#timer);
		this.#timer = undefined;
		this.#timerAt = Infinity;
		const transport = this[HOT].transport;
		this[HOT].transport = undefined;
		this[HOT].room = 0;
		this.#connect = undefined;
		// Stops a decoder.push() in progress: the rest of that chunk belongs to the closed connection.
		this.#decoder.reset();
		this.#queue = [];
		this.#control = [];
		this.#queueOffset = 0;
		this[HOT].queuedBytes = 0;
		this.#refusedBusy = false;
		this[HOT].pingDeadline = Infinity;
		this[HOT].timed = false;
		this[HOT].partialSince = Infinity;
		this.#blockedSince = Infinity;
		this.#handlersRunning = 0;
		this.#pendingSubscribe.clear();
		this.#pendingUnsubscribe.clear();
		for (const entry of this[HOT].inflight.values()) if (entry.stage === "sent") entry.stage = "unsent";
		this.#countUnsent();
		try {
			transport?.close();
		}
		catch {
			// Already closed.
		}
		this.#notify("onClose", () => this.#o.onClose?.({ ...reason, wasConnected }));
	}
}

/** Why `topic` cannot be a PUBLISH topic name, or undefined when it can. */
export function checkTopicName(topic: string): string | undefined {
	if (typeof topic !== "string" || !topic.length) return "the topic is empty";
	if (topic.indexOf("+") >= 0 || topic.indexOf("#") >= 0) return "a topic name cannot contain wildcards";
	if (topic.indexOf("\u0000") >= 0) return "a topic cannot contain U+0000";
	if (topic.length > 65535) return "the topic is longer than 65535 bytes";
	return undefined;
}

/** Why `filter` cannot be a SUBSCRIBE topic filter, or undefined when it can. */
export function checkTopicFilter(filter: string): string | undefined {
	if (typeof filter !== "string" || !filter.length) return "the topic filter is empty";
	if (filter.indexOf("\u0000") >= 0) return "a topic filter cannot contain U+0000";
	const levels = filter.split("/");
	for (let i = 0; i < levels.length; i++) {
		const level = levels[i];
		if (level.indexOf("#") >= 0 && (level !== "#" || i !== levels.length - 1)) return "# must be a whole last level";
		if (level.indexOf("+") >= 0 && level !== "+") return "+ must be a whole level";
	}
	return undefined;
}

/** Why CONNACK's limits cannot be accepted (MQTT 5.0, 3.2.2.3), or undefined. */
function connackLimitProblem(p: Properties): string | undefined {
	if (p.receiveMaximum === 0) return "Receive Maximum 0, a protocol error: the broker would accept no QoS 1 or 2 message";
	if (p.maximumQoS !== undefined && p.maximumQoS > 1) return `Maximum QoS ${p.maximumQoS}, a protocol error: only 0 or 1 may be sent`;
	if (p.maximumPacketSize === 0) return "Maximum Packet Size 0, a protocol error";
	for (const [name, label] of BOOLEAN_LIMITS) {
		const value = p[name];
		if (typeof value === "number" && value > 1) return `${label} ${value}, a protocol error: only 0 or 1 may be sent`;
	}
	return undefined;
}

function errorText(e: unknown): string {
	return e instanceof CodecError || e instanceof Error ? e.message : String(e);
}

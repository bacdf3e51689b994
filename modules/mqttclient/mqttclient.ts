/*
 * MQTT 3.1.1 / 5.0 client over a caller-supplied transport and clock.
 *
 * - Bounded: no packet over `bufferSize` bytes is written (the caller gets an error and the
 *   connection stays up) or buffered on receipt (it is drained and reported). Writes respect the
 *   transport's backpressure through a send queue of bounded size; nothing throws when it is full.
 * - QoS 0, 1 and 2 with an in-flight window; unacknowledged messages survive a reconnect and are
 *   sent again (with DUP when the broker resumed the session).
 * - Liveness: PINGREQ when nothing was sent or received for the keepalive interval; no answer within
 *   the socket timeout closes the connection. CONNECT (TCP, TLS, CONNACK) must finish within it too.
 * - Every close is reported once, with a Diagnostic.
 */

import { CodecError, Decoder, encode, packetSize, type OversizeInfo } from "mqttclient/codec";
import {
	ackDiagnostic,
	connackDiagnostic,
	diagnostic,
	disconnectDiagnostic,
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

export type Outcome = { ok: true; id: number; bytes: number } | { ok: false; error: Diagnostic };

export interface MQTTClientOptions {
	transport: TransportFactory;
	clock: MqttClock;
	protocolVersion?: ProtocolVersion;
	/** Largest packet, fixed header included, sent or received. Default 1024. */
	bufferSize?: number;
	/** Seconds; 0 disables. Default 60. */
	keepAlive?: number;
	/** Seconds allowed for connecting (TCP, TLS, CONNACK) and for a PINGRESP. Default 30. */
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

interface Inflight {
	packet: PublishPacket;
	encoded: Uint8Array;
	/** unsent: waiting for window room; sent: PUBLISH sent; released: PUBREC received, PUBREL sent. */
	stage: "unsent" | "sent" | "released";
}

interface ServerLimits {
	maximumPacketSize: number;
	receiveMaximum: number;
	maximumQoS: QoS;
	retainAvailable: boolean;
	keepAlive: number;
}

const MAX_ID = 0xffff;

export class MQTTClient {
	readonly #o: MQTTClientOptions;
	readonly #clock: MqttClock;
	readonly #version: ProtocolVersion;
	readonly #bufferSize: number;
	readonly #window: number;
	readonly #queueLimit: number;
	readonly #socketTimeoutMs: number;
	readonly #decoder: Decoder;
	#keepAlive: number;

	#state: ClientState = "disconnected";
	#generation = 0;
	#transport: Transport | undefined;
	#connect: Uint8Array | undefined;
	#connectBytes = 0;
	#connectSent = false;
	#server: ServerLimits;
	#timer: TimerHandle | undefined;
	#timerAt = Infinity;
	#connectDeadline = Infinity;
	#pingDeadline = Infinity;
	#lastSent = 0;
	#lastReceived = 0;
	#queue: Uint8Array[] = [];
	#queueOffset = 0;
	#queuedBytes = 0;
	#refusedBusy = false;
	#nextId = 0;
	#inflight = new Map<number, Inflight>();
	/** Entries of #inflight in the "unsent" stage (so an acknowledgement need not scan the map). */
	#unsent = 0;
	#pendingSubscribe = new Map<number, Subscription[]>();
	#pendingUnsubscribe = new Set<number>();
	#incomingQos2 = new Set<number>();

	constructor(options: MQTTClientOptions) {
		this.#o = options;
		this.#clock = options.clock;
		this.#version = options.protocolVersion ?? 4;
		this.#bufferSize = options.bufferSize ?? 1024;
		this.#window = Math.max(1, Math.min(options.inflightWindow ?? 8, MAX_ID));
		this.#queueLimit = options.sendQueueSize ?? 2 * this.#bufferSize;
		this.#socketTimeoutMs = (options.socketTimeout ?? 30) * 1000;
		this.#keepAlive = options.keepAlive ?? 60;
		if (this.#version !== 4 && this.#version !== 5) throw new RangeError(`protocolVersion must be 4 or 5, not ${String(this.#version)}`);
		if (!(this.#bufferSize >= 64)) throw new RangeError("bufferSize must be at least 64 bytes");
		this.#server = this.#defaultLimits();
		this.#decoder = new Decoder({
			maxPacketSize: this.#bufferSize,
			protocolVersion: this.#version,
			onPacket: (p) => this.#onPacket(p),
			onOversize: (info) => this.#onOversize(info),
			onError: (e) => this.#protocolError(0x81, `malformed packet from broker: ${e.message}`),
		});
	}

	get state(): ClientState {
		return this.#state;
	}
	get connected(): boolean {
		return this.#state === "connected";
	}
	get protocolVersion(): ProtocolVersion {
		return this.#version;
	}
	/** Outgoing QoS 1/2 messages not yet acknowledged (kept across reconnects). */
	get inflight(): number {
		return this.#inflight.size;
	}
	/** Bytes waiting for the transport. */
	get queuedBytes(): number {
		return this.#queuedBytes;
	}
	/** Largest packet that may be sent now. */
	get maximumPacketSize(): number {
		return Math.min(this.#bufferSize, this.#server.maximumPacketSize);
	}
	/** True when a publish of the given QoS would be accepted now (connection up, window and queue room). */
	canPublish(qos: QoS = 0): boolean {
		if (this.#state !== "connected" || this.#queuedBytes >= this.#queueLimit) return false;
		return qos === 0 || this.#inflight.size < this.#effectiveWindow();
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
		return packetSize(this.#connectPacket(options), this.#version);
	}

	connect(options: ConnectOptions): Outcome {
		if (this.#state !== "disconnected") return this.#refuse("already_connected", `cannot connect while ${this.#state}`);
		let packet: ConnectPacket;
		let encoded: Uint8Array;
		try {
			packet = this.#connectPacket(options);
			const size = packetSize(packet, this.#version);
			if (size > this.#bufferSize) {
				return this.#refuse("connect_too_large",
					`CONNECT is ${size} bytes, over the ${this.#bufferSize}-byte buffer`,
					"shorten the JWT (fewer or shorter claims) or the client id, or raise mqtt.bufferSize");
			}
			encoded = encode(packet, this.#version);
		}
		catch (e) {
			return this.#refuse("invalid_connect", `CONNECT cannot be encoded: ${errorText(e)}`);
		}
		const generation = ++this.#generation;
		this.#state = "connecting";
		this.#connect = encoded;
		this.#connectBytes = encoded.length;
		this.#connectSent = false;
		this.#server = this.#defaultLimits();
		this.#decoder.reset(this.#version);
		this.#connectDeadline = this.#clock.now() + this.#socketTimeoutMs;
		this.#pingDeadline = Infinity;
		this.#schedule();
		const live = () => generation === this.#generation;
		try {
			this.#transport = this.#o.transport({ host: options.host, port: options.port, tls: options.tls }, {
				onConnect: () => { if (live()) this.#onTransportConnect(); },
				onData: (bytes) => { if (live()) this.#onData(bytes); },
				onWritable: () => { if (live()) this.#flush(); },
				onClose: (error) => { if (live()) this.#onTransportClose(error); },
			});
		}
		catch (e) {
			this.#teardown(transportDiagnostic("io", errorText(e)));
			return { ok: false, error: transportDiagnostic("io", errorText(e)) };
		}
		return { ok: true, id: 0, bytes: encoded.length };
	}

	publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Outcome {
		const qos = options.qos ?? 0;
		const retain = options.retain ?? false;
		const problem = checkTopicName(topic);
		if (problem) return this.#refuse("invalid_topic", `cannot publish to "${topic}": ${problem}`);
		if (qos !== 0 && qos !== 1 && qos !== 2) return this.#refuse("invalid_qos", `QoS ${String(qos)} is not 0, 1 or 2`);
		if (this.#state !== "connected") return this.#refuse("not_connected", `cannot publish to ${topic}: not connected`);
		if (qos > this.#server.maximumQoS) return this.#refuse("qos_not_supported", `the broker accepts QoS ${this.#server.maximumQoS} at most, not ${qos}`);
		if (retain && !this.#server.retainAvailable) return this.#refuse("retain_not_supported", "the broker does not accept retained messages");
		if (qos > 0 && this.#inflight.size >= this.#effectiveWindow())
			return this.#refuse("inflight_full", `${this.#inflight.size} messages await acknowledgement (window ${this.#effectiveWindow()})`, "publish again after onDelivered");
		const packet: PublishPacket = {
			type: "publish",
			topic,
			payload: typeof payload === "string" ? utf8Encode(payload) : payload,
			qos,
			retain,
			dup: false,
		};
		if (qos > 0) packet.id = this.#allocateId();
		if (options.properties && this.#version === 5) packet.properties = options.properties;
		const encoded = this.#encodeBounded(packet, `PUBLISH to ${topic}`);
		if (!(encoded instanceof Uint8Array)) return encoded;
		if (!this.#enqueue(encoded, true)) return this.#busy(`PUBLISH to ${topic}`);
		if (qos > 0) this.#inflight.set(packet.id!, { packet, encoded, stage: "sent" });
		return { ok: true, id: packet.id ?? 0, bytes: encoded.length };
	}

	subscribe(subscriptions: Subscription | Subscription[]): Outcome {
		const list = Array.isArray(subscriptions) ? subscriptions : [subscriptions];
		for (const s of list) {
			const problem = checkTopicFilter(s.topic);
			if (problem) return this.#refuse("invalid_topic", `cannot subscribe to "${s.topic}": ${problem}`);
		}
		if (this.#state !== "connected") return this.#refuse("not_connected", "cannot subscribe: not connected");
		const id = this.#allocateId();
		const encoded = this.#encodeBounded({ type: "subscribe", id, subscriptions: list }, "SUBSCRIBE");
		if (!(encoded instanceof Uint8Array)) return encoded;
		if (!this.#enqueue(encoded, true)) return this.#busy("SUBSCRIBE");
		this.#pendingSubscribe.set(id, list);
		return { ok: true, id, bytes: encoded.length };
	}

	unsubscribe(topics: string | string[]): Outcome {
		const list = Array.isArray(topics) ? topics : [topics];
		if (this.#state !== "connected") return this.#refuse("not_connected", "cannot unsubscribe: not connected");
		const id = this.#allocateId();
		const encoded = this.#encodeBounded({ type: "unsubscribe", id, topics: list }, "UNSUBSCRIBE");
		if (!(encoded instanceof Uint8Array)) return encoded;
		if (!this.#enqueue(encoded, true)) return this.#busy("UNSUBSCRIBE");
		this.#pendingUnsubscribe.add(id);
		return { ok: true, id, bytes: encoded.length };
	}

	/** Sends DISCONNECT (the broker discards the will) and closes once it is written. */
	disconnect(reasonCode = 0): void {
		if (this.#state === "connected") {
			const packet = this.#version === 5 && reasonCode ? { type: "disconnect" as const, reasonCode } : { type: "disconnect" as const };
			this.#state = "disconnecting";
			this.#enqueue(encode(packet, this.#version), false);
			this.#connectDeadline = this.#clock.now() + this.#socketTimeoutMs;
			this.#schedule();
			this.#flush();
			return;
		}
		if (this.#state === "connecting") this.#teardown(diagnostic("client_disconnect", STATE.DISCONNECTED, "connection attempt abandoned by the client"));
	}

	/** Drops the connection without DISCONNECT (the broker publishes the will). */
	close(): void {
		if (this.#state !== "disconnected") this.#teardown(diagnostic("client_close", STATE.DISCONNECTED, "connection closed by the client"));
	}

	/** Forgets unacknowledged outgoing messages (they will not be sent again). Returns how many. */
	discardInflight(): number {
		const n = this.#inflight.size;
		this.#inflight.clear();
		this.#unsent = 0;
		return n;
	}

	/* --------------------------------------------------------------------------------- */

	#defaultLimits(): ServerLimits {
		return { maximumPacketSize: Infinity, receiveMaximum: MAX_ID, maximumQoS: 2, retainAvailable: true, keepAlive: this.#keepAlive };
	}

	#effectiveWindow(): number {
		return Math.min(this.#window, this.#server.receiveMaximum);
	}

	#connectPacket(o: ConnectOptions): ConnectPacket {
		const packet: ConnectPacket = {
			type: "connect",
			protocolVersion: this.#version,
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
			if (this.#version === 5 && o.will.properties) packet.will.properties = o.will.properties;
		}
		if (this.#version === 5) {
			const props: Properties = { maximumPacketSize: this.#bufferSize, receiveMaximum: this.#window };
			if (o.sessionExpiry) props.sessionExpiryInterval = o.sessionExpiry;
			packet.properties = props;
		}
		return packet;
	}

	#refuse(code: string, message: string, fix?: string): Outcome {
		return { ok: false, error: diagnostic(code, this.#state === "connected" ? STATE.CONNECTED : STATE.DISCONNECTED, message, fix) };
	}

	#busy(what: string): Outcome {
		this.#refusedBusy = true;
		return this.#refuse("busy", `${what} refused: the send queue is full (${this.#queuedBytes} bytes waiting for the network)`, "retry after onWritable");
	}

	#encodeBounded(packet: Packet, what: string): Uint8Array | Outcome {
		try {
			const size = packetSize(packet, this.#version);
			const limit = this.maximumPacketSize;
			if (size > limit) {
				const whose = limit < this.#bufferSize ? "the broker's Maximum Packet Size" : "the buffer";
				return this.#refuse("packet_too_large", `${what} is ${size} bytes, over ${whose} of ${limit} bytes; nothing was sent`,
					"send a smaller payload or raise mqtt.bufferSize");
			}
			return encode(packet, this.#version);
		}
		catch (e) {
			return this.#refuse("invalid_packet", `${what} cannot be encoded: ${errorText(e)}`);
		}
	}

	#allocateId(): number {
		for (let i = 0; i < MAX_ID; i++) {
			this.#nextId = this.#nextId >= MAX_ID ? 1 : this.#nextId + 1;
			const id = this.#nextId;
			if (!this.#inflight.has(id) && !this.#pendingSubscribe.has(id) && !this.#pendingUnsubscribe.has(id)) return id;
		}
		throw new Error("no free packet identifier");
	}

	/* Sending ------------------------------------------------------------------------- */

	/** Queues bytes for the transport. `bounded` packets are refused when the queue is full. */
	#enqueue(bytes: Uint8Array, bounded: boolean): boolean {
		if (!this.#transport) return false;
		if (bounded && this.#queuedBytes > 0 && this.#queuedBytes + bytes.length > this.#queueLimit) return false;
		this.#queue.push(bytes);
		this.#queuedBytes += bytes.length;
		this.#flush();
		return true;
	}

	#flush(): void {
		const transport = this.#transport;
		if (!transport) return;
		try {
			while (this.#queue.length) {
				const room = transport.writable;
				if (room <= 0) return;
				const head = this.#queue[0];
				const n = Math.min(room, head.length - this.#queueOffset);
				transport.write(this.#queueOffset === 0 && n === head.length ? head : head.subarray(this.#queueOffset, this.#queueOffset + n));
				this.#lastSent = this.#clock.now();
				this.#queuedBytes -= n;
				this.#queueOffset += n;
				if (this.#queueOffset === head.length) {
					this.#queue.shift();
					this.#queueOffset = 0;
				}
			}
		}
		catch (e) {
			this.#teardown(transportDiagnostic("io", `write failed: ${errorText(e)}`));
			return;
		}
		if (this.#state === "disconnecting") {
			this.#teardown(diagnostic("client_disconnect", STATE.DISCONNECTED, "disconnected by the client"));
			return;
		}
		if (this.#refusedBusy && this.#queuedBytes < this.#queueLimit) {
			this.#refusedBusy = false;
			this.#notify("onWritable", () => this.#o.onWritable?.());
		}
	}

	#sendPacket(packet: Packet): void {
		this.#enqueue(encode(packet, this.#version), false);
	}

	/* Receiving ----------------------------------------------------------------------- */

	#onTransportConnect(): void {
		if (this.#state !== "connecting" || !this.#connect) return;
		this.#connectSent = true;
		this.#enqueue(this.#connect, false);
		this.#connect = undefined;
	}

	#onData(bytes: Uint8Array): void {
		this.#lastReceived = this.#clock.now();
		this.#pingDeadline = Infinity;
		this.#decoder.push(bytes);
	}

	#onTransportClose(error?: TransportError): void {
		if (error) {
			this.#teardown(transportDiagnostic(error.code, error.message));
			return;
		}
		if (this.#state === "connecting") {
			const d = this.#connectSent
				? diagnostic("connection_lost", STATE.CONNECTION_LOST, "the broker closed the connection before CONNACK",
					"the broker dropped the CONNECT: check its log (protocol version, client id, credentials, TLS expected?)")
				: transportDiagnostic("closed", "before the connection was established");
			this.#teardown(d);
			return;
		}
		this.#teardown(transportDiagnostic("closed"));
	}

	#onPacket(packet: Packet): void {
		if (this.#state === "connecting") {
			if (packet.type === "connack" && this.#connectSent) this.#onConnack(packet);
			else if (packet.type === "auth") this.#protocolError(0x8c, "the broker asked for enhanced authentication, which this client does not do");
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
			case "unsuback": this.#onUnsuback(packet.id, packet.reasonCodes ?? []); break;
			case "pingresp": break;
			case "disconnect": this.#teardown(disconnectDiagnostic(packet.reasonCode ?? 0, packet.properties?.reasonString)); break;
			default: this.#protocolError(0x82, `unexpected ${packet.type.toUpperCase()} from the broker`);
		}
	}

	#onConnack(packet: ConnackPacket): void {
		if (packet.reasonCode !== 0) {
			this.#teardown(connackDiagnostic(this.#version, packet.reasonCode, packet.properties?.reasonString));
			return;
		}
		const props = packet.properties ?? {};
		this.#server = {
			maximumPacketSize: props.maximumPacketSize ?? Infinity,
			receiveMaximum: props.receiveMaximum ?? MAX_ID,
			maximumQoS: (props.maximumQoS ?? 2) as QoS,
			retainAvailable: props.retainAvailable !== 0,
			keepAlive: props.serverKeepAlive ?? this.#keepAlive,
		};
		this.#state = "connected";
		this.#connectDeadline = Infinity;
		this.#lastReceived = this.#clock.now();
		// Incoming QoS 2 ids awaiting PUBREL belong to the session: kept when it resumed, so a
		// PUBLISH the broker sends again is not delivered twice.
		if (!packet.sessionPresent) this.#incomingQos2.clear();
		const resent = this.#resendInflight(packet.sessionPresent);
		this.#schedule();
		const info: ConnectInfo = {
			sessionPresent: packet.sessionPresent,
			connectBytes: this.#connectBytes,
			keepAlive: this.#server.keepAlive,
			maximumPacketSize: this.maximumPacketSize,
			resent,
		};
		if (props.assignedClientIdentifier) info.assignedClientId = props.assignedClientIdentifier;
		if (packet.properties) info.properties = packet.properties;
		this.#notify("onConnect", () => this.#o.onConnect?.(info));
	}

	#resendInflight(sessionPresent: boolean): number {
		let sent = 0;
		const window = this.#effectiveWindow();
		for (const [id, entry] of this.#inflight) {
			if (sent >= window) {
				entry.stage = "unsent";
				continue;
			}
			if (entry.stage === "released" && sessionPresent) this.#sendPacket({ type: "pubrel", id });
			else {
				entry.stage = "sent";
				entry.packet.dup = sessionPresent;
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
		for (const entry of this.#inflight.values()) if (entry.stage === "unsent") n++;
		this.#unsent = n;
	}

	#sendWaiting(): void {
		if (this.#unsent === 0) return;
		let sent = 0;
		for (const entry of this.#inflight.values()) if (entry.stage !== "unsent") sent++;
		for (const entry of this.#inflight.values()) {
			if (sent >= this.#effectiveWindow()) return;
			if (entry.stage !== "unsent") continue;
			entry.stage = "sent";
			this.#unsent--;
			this.#enqueue(entry.encoded, false);
			sent++;
		}
	}

	#onPublish(packet: PublishPacket): void {
		if (packet.properties?.topicAlias !== undefined) {
			this.#protocolError(0x94, "the broker used a Topic Alias although this client allows none (Topic Alias Maximum 0)");
			return;
		}
		if (packet.qos === 2 && this.#incomingQos2.has(packet.id!)) {
			this.#sendPacket({ type: "pubrec", id: packet.id! });
			return;
		}
		const message: Message = { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup };
		if (packet.properties) message.properties = packet.properties;
		if (packet.qos === 2) this.#incomingQos2.add(packet.id!);
		const generation = this.#generation;
		const acknowledge = () => {
			if (generation !== this.#generation || this.#state !== "connected" || packet.qos === 0) return;
			this.#sendPacket({ type: packet.qos === 1 ? "puback" : "pubrec", id: packet.id! });
		};
		let result: void | PromiseLike<unknown> = undefined;
		try {
			result = this.#o.onMessage?.(message);
		}
		catch (e) {
			this.#warn("handler_error", `message handler for ${packet.topic} threw: ${errorText(e)}`);
		}
		if (result && typeof result.then === "function") {
			result.then(acknowledge, (e: unknown) => {
				this.#warn("handler_error", `message handler for ${packet.topic} failed: ${errorText(e)}`);
				acknowledge();
			});
		}
		else acknowledge();
	}

	#onPuback(packet: AckPacket): void {
		const entry = this.#inflight.get(packet.id);
		if (!entry || entry.packet.qos !== 1) {
			this.#warn("unknown_packet_id", `PUBACK for packet id ${packet.id}, which is not awaiting one`);
			return;
		}
		this.#delivered(packet, "PUBLISH");
	}

	#onPubrec(packet: AckPacket): void {
		const entry = this.#inflight.get(packet.id);
		if (!entry || entry.packet.qos !== 2) {
			if (this.#version === 5) this.#sendPacket({ type: "pubrel", id: packet.id, reasonCode: 0x92 });
			else this.#sendPacket({ type: "pubrel", id: packet.id });
			return;
		}
		if ((packet.reasonCode ?? 0) >= 0x80) {
			this.#delivered(packet, "PUBLISH");
			return;
		}
		entry.stage = "released";
		this.#sendPacket({ type: "pubrel", id: packet.id });
	}

	#onPubcomp(packet: AckPacket): void {
		const entry = this.#inflight.get(packet.id);
		if (!entry || entry.stage !== "released") {
			this.#warn("unknown_packet_id", `PUBCOMP for packet id ${packet.id}, which is not awaiting one`);
			return;
		}
		this.#delivered(packet, "PUBLISH");
	}

	#delivered(packet: AckPacket, what: string): void {
		const entry = this.#inflight.get(packet.id)!;
		this.#inflight.delete(packet.id);
		if (entry.stage === "unsent") this.#unsent--;
		const rc = packet.reasonCode ?? 0;
		if (rc >= 0x80) {
			const d = ackDiagnostic(`${what} to ${entry.packet.topic}`, rc, packet.properties?.reasonString);
			this.#notify("onWarning", () => this.#o.onWarning?.(d));
		}
		this.#notify("onDelivered", () => this.#o.onDelivered?.(packet.id, rc));
		this.#sendWaiting();
	}

	#onPubrel(packet: AckPacket): void {
		this.#incomingQos2.delete(packet.id);
		this.#sendPacket({ type: "pubcomp", id: packet.id });
	}

	#onSuback(id: number, reasonCodes: number[]): void {
		const subscriptions = this.#pendingSubscribe.get(id);
		if (!subscriptions) {
			this.#warn("unknown_packet_id", `SUBACK for packet id ${id}, which is not awaiting one`);
			return;
		}
		this.#pendingSubscribe.delete(id);
		reasonCodes.forEach((rc, i) => {
			if (rc >= 0x80) this.#notify("onWarning", () => this.#o.onWarning?.(ackDiagnostic(`SUBSCRIBE to ${subscriptions[i]?.topic ?? "?"}`, rc)));
		});
		this.#notify("onSubscribed", () => this.#o.onSubscribed?.(id, reasonCodes, subscriptions));
	}

	#onUnsuback(id: number, reasonCodes: number[]): void {
		if (!this.#pendingUnsubscribe.delete(id)) {
			this.#warn("unknown_packet_id", `UNSUBACK for packet id ${id}, which is not awaiting one`);
			return;
		}
		this.#notify("onUnsubscribed", () => this.#o.onUnsubscribed?.(id, reasonCodes));
	}

	#onOversize(info: OversizeInfo): void {
		const topic = info.topic !== undefined ? ` on ${info.topic}` : "";
		this.#warn("packet_too_large_inbound",
			`dropped an incoming ${info.type.toUpperCase()}${topic} of ${info.size} bytes: over the ${this.#bufferSize}-byte buffer`,
			"the sender should publish smaller messages to this device, or raise mqtt.bufferSize");
		if (info.type !== "publish" || info.id === undefined || this.#state !== "connected") return;
		// Acknowledge it so the broker does not hold it in flight forever; it cannot be processed.
		const reasonCode = this.#version === 5 ? 0x80 : undefined;
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
			const d = diagnostic("callback_error", this.#state === "connected" ? STATE.CONNECTED : STATE.DISCONNECTED, `${name} threw: ${errorText(e)}`);
			try {
				this.#o.onWarning?.(d);
			}
			catch {
				// Nothing more can be done.
			}
		}
	}

	#warn(code: string, message: string, fix?: string): void {
		const d = diagnostic(code, this.#state === "connected" ? STATE.CONNECTED : STATE.DISCONNECTED, message, fix);
		this.#notify("onWarning", () => this.#o.onWarning?.(d));
	}

	#protocolError(reasonCode: number, message: string): void {
		if (this.#state === "disconnected") return;
		if (this.#version === 5 && this.#transport && (this.#state === "connected" || this.#connectSent)) {
			try {
				this.#transport.write(encode({ type: "disconnect", reasonCode }, 5));
			}
			catch {
				// The connection is being torn down anyway.
			}
		}
		this.#teardown(diagnostic("protocol_error", STATE.CONNECTION_LOST, message,
			"the broker sent something this client cannot accept; see the broker's version and log"));
	}

	/* Timers -------------------------------------------------------------------------- */

	#deadline(): number {
		if (this.#state === "connecting" || this.#state === "disconnecting") return this.#connectDeadline;
		if (this.#state !== "connected") return Infinity;
		const keepAliveMs = this.#server.keepAlive * 1000;
		if (!keepAliveMs) return Infinity;
		if (this.#pingDeadline !== Infinity) return this.#pingDeadline;
		return Math.min(this.#lastSent, this.#lastReceived) + keepAliveMs;
	}

	#schedule(): void {
		const at = this.#deadline();
		if (at === this.#timerAt && this.#timer !== undefined) return;
		if (this.#timer !== undefined) this.#clock.clear(this.#timer);
		this.#timer = undefined;
		this.#timerAt = at;
		if (at === Infinity) return;
		this.#timer = this.#clock.set(() => {
			this.#timer = undefined;
			this.#timerAt = Infinity;
			this.#onTimer();
		}, Math.max(0, at - this.#clock.now()));
	}

	#onTimer(): void {
		const now = this.#clock.now();
		if (this.#state === "connecting" && now >= this.#connectDeadline) {
			const what = this.#connectSent ? "no CONNACK" : "TCP/TLS connection not established";
			this.#teardown(transportDiagnostic("timeout", `${what} within ${this.#socketTimeoutMs / 1000} s`));
			return;
		}
		if (this.#state === "disconnecting" && now >= this.#connectDeadline) {
			this.#teardown(diagnostic("client_disconnect", STATE.DISCONNECTED, "disconnected by the client (DISCONNECT could not be flushed)"));
			return;
		}
		if (this.#state === "connected") {
			if (now >= this.#pingDeadline) {
				this.#teardown(diagnostic("keepalive_timeout", STATE.CONNECTION_TIMEOUT,
					`no answer from the broker within ${this.#socketTimeoutMs / 1000} s of PINGREQ: the connection is half-open or the broker is stuck`,
					"the device reconnects; if this repeats, check the network path (NAT timeouts, WiFi power saving)"));
				return;
			}
			const keepAliveMs = this.#server.keepAlive * 1000;
			if (keepAliveMs && this.#pingDeadline === Infinity && now >= Math.min(this.#lastSent, this.#lastReceived) + keepAliveMs) {
				this.#pingDeadline = now + this.#socketTimeoutMs;
				this.#sendPacket({ type: "pingreq" });
			}
		}
		this.#schedule();
	}

	/* Teardown ------------------------------------------------------------------------ */

	#teardown(reason: Diagnostic): void {
		if (this.#state === "disconnected") return;
		const wasConnected = this.#state === "connected" || this.#state === "disconnecting";
		this.#generation++;
		this.#state = "disconnected";
		if (this.#timer !== undefined) this.#clock.clear(this.#timer);
		this.#timer = undefined;
		this.#timerAt = Infinity;
		const transport = this.#transport;
		this.#transport = undefined;
		this.#connect = undefined;
		// Stops a decoder.push() in progress: the rest of that chunk belongs to the closed connection.
		this.#decoder.reset();
		this.#queue = [];
		this.#queueOffset = 0;
		this.#queuedBytes = 0;
		this.#refusedBusy = false;
		this.#pendingSubscribe.clear();
		this.#pendingUnsubscribe.clear();
		for (const entry of this.#inflight.values()) if (entry.stage === "sent") entry.stage = "unsent";
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

function errorText(e: unknown): string {
	return e instanceof CodecError || e instanceof Error ? e.message : String(e);
}

/*
 * An in-memory MQTT 3.1.1 broker and network for the XS scenario, in plain ECMAScript.
 *
 * The broker speaks MQTT through the firmware's own codec (mqttclient/codec: Decoder and encode),
 * authenticates CONNECT the way EMQX's JWT authentication does (HS256 token in the password,
 * checked with `verify` from jwt against the world's wall-clock time), answers CONNACK, SUBACK,
 * PUBACK and PINGRESP, keeps retained messages, publishes the will when a client vanishes
 * (keepalive x 1.5 without a packet, or a close without DISCONNECT), and records everything.
 * The backend side of the scenario injects messages through publish().
 *
 * FakeNetwork carries the bytes: every delivery, open and close is a timer on the virtual clock,
 * `delayMs` later, so events never arrive from inside the call that caused them (the transport
 * contract) and no setImmediate is needed. When the WiFi link drops, open connections go dead
 * silently in both directions, as they do when a station loses its access point.
 */

import { utf8Decode, utf8Encode } from "bytes";
import { verify, type Claims, type HmacSha256 } from "jwt";
import { Decoder, encode } from "mqttclient/codec";
import type { ConnectPacket, Packet, PublishPacket, QoS } from "mqttclient/packets";
import type { Transport, TransportEvents, TransportFactory, TransportOptions } from "mqttclient/transport";
import type { VirtualClock } from "./virtual-clock";

const VERSION = 4;
/** Largest packet the broker buffers. */
const MAX_PACKET = 256 * 1024;
/** Bytes a client may write at once. */
const WINDOW = 64 * 1024;

export interface ConnectRecord {
	atMs: number;
	clientId: string;
	username: string | null;
	/** CONNECT size in bytes, as received. */
	bytes: number;
	keepAlive: number;
	cleanSession: boolean;
	will: { topic: string; qos: QoS; retain: boolean; bytes: number } | null;
	/** The CONNACK return code sent: 0 accepted, 4 bad user name or password, 5 not authorized. */
	returnCode: number;
	/** Why the token was refused, when it was. */
	refused?: string;
	/** The token from the password field. */
	token: string | null;
	/** Its claims, when it verified. */
	claims?: Claims;
}

export interface PublishRecord {
	atMs: number;
	clientId: string;
	topic: string;
	qos: QoS;
	retain: boolean;
	dup: boolean;
	payload: string;
	/** "client": the client published it; "will": the broker published the client's will. */
	source: "client" | "will";
}

export interface BrokerEvent {
	atMs: number;
	event: string;
	clientId?: string;
	detail?: string;
}

export interface InjectRecord {
	atMs: number;
	topic: string;
	payload: string;
	qos: QoS;
	/** Client ids it was sent to. */
	deliveredTo: string[];
	/** Client ids that acknowledged it (PUBACK), filled in later. */
	acknowledgedBy: string[];
}

export interface BrokerOptions {
	clock: VirtualClock;
	hmac: HmacSha256;
	jwtSecret: string;
	jwtIssuer: string;
	jwtAudience: string;
}

/** Whether `topic` matches the subscription `filter` (with + and # wildcards). */
export function topicMatches(filter: string, topic: string): boolean {
	const f = filter.split("/");
	const t = topic.split("/");
	for (let i = 0; i < f.length; i++) {
		if (f[i] === "#") return i === f.length - 1;
		if (i >= t.length) return false;
		if (f[i] !== "+" && f[i] !== t[i]) return false;
	}
	return f.length === t.length;
}

/** The broker's end of one network connection. */
export interface BrokerSide {
	/** Bytes from the client. */
	receive(bytes: Uint8Array): void;
	/** The client closed its end (a FIN arrived). */
	peerClosed(): void;
}

/** What the broker may do with a connection. */
export interface ClientLink {
	send(bytes: Uint8Array): void;
	close(): void;
}

interface Session {
	link: ClientLink;
	clientId: string | undefined;
	subscriptions: Map<string, QoS>;
	keepAliveMs: number;
	lastHeard: number;
	timer: unknown;
	open: boolean;
	bytesIn: number;
	will: PublishPacket | undefined;
	nextId: number;
	/** Injected messages awaiting PUBACK, by packet id. */
	awaiting: Map<number, InjectRecord>;
}

export class FakeBroker {
	readonly #o: BrokerOptions;
	readonly #sessions = new Set<Session>();
	readonly connects: ConnectRecord[] = [];
	readonly publishes: PublishRecord[] = [];
	readonly subscriptions: { atMs: number; clientId: string; filter: string; qos: QoS }[] = [];
	readonly injected: InjectRecord[] = [];
	readonly events: BrokerEvent[] = [];
	readonly retained = new Map<string, string>();
	pings = 0;

	constructor(options: BrokerOptions) {
		this.#o = options;
	}

	get #now(): number {
		return this.#o.clock.now();
	}

	/** Clients connected (CONNACK 0 sent, connection open). */
	get connectedClients(): string[] {
		const ids: string[] = [];
		for (const s of this.#sessions) if (s.open && s.clientId !== undefined) ids.push(s.clientId);
		return ids;
	}

	/** A new network connection. */
	accept(link: ClientLink): BrokerSide {
		const session: Session = {
			link,
			clientId: undefined,
			subscriptions: new Map(),
			keepAliveMs: 0,
			lastHeard: this.#now,
			timer: undefined,
			open: true,
			bytesIn: 0,
			will: undefined,
			nextId: 0,
			awaiting: new Map(),
		};
		const decoder = new Decoder({
			maxPacketSize: MAX_PACKET,
			protocolVersion: VERSION,
			onPacket: (packet) => this.#onPacket(session, packet),
			onOversize: (info) => this.#drop(session, `oversize ${info.type} of ${info.size} bytes`, true),
			onError: (error) => this.#drop(session, `malformed packet: ${error.message}`, true),
		});
		this.#sessions.add(session);
		this.#log("accept");
		return {
			receive: (bytes) => {
				if (!session.open) return;
				session.bytesIn += bytes.length;
				session.lastHeard = this.#now;
				decoder.push(bytes);
			},
			peerClosed: () => {
				if (!session.open) return;
				this.#drop(session, "closed by the client without DISCONNECT", true);
			},
		};
	}

	/** The backend publishes: sent to every connected client with a matching subscription. */
	publish(topic: string, payload: string, qos: QoS = 1, retain = false): InjectRecord {
		const record: InjectRecord = { atMs: this.#now, topic, payload, qos, deliveredTo: [], acknowledgedBy: [] };
		this.injected.push(record);
		if (retain) this.#retain(topic, payload);
		for (const s of this.#sessions) {
			if (!s.open || s.clientId === undefined) continue;
			let granted: QoS | undefined;
			for (const [filter, q] of s.subscriptions) if (topicMatches(filter, topic)) granted = granted === undefined || q > granted ? q : granted;
			if (granted === undefined) continue;
			const effective = Math.min(granted, qos) as QoS;
			const packet: PublishPacket = { type: "publish", topic, payload: utf8Encode(payload), qos: effective, retain: false, dup: false };
			if (effective > 0) {
				packet.id = this.#allocateId(s);
				s.awaiting.set(packet.id, record);
			}
			this.#send(s, packet);
			record.deliveredTo.push(s.clientId);
		}
		this.#log("inject", undefined, `${topic} to ${record.deliveredTo.length} client(s)`);
		return record;
	}

	#onPacket(s: Session, packet: Packet): void {
		if (s.clientId === undefined) {
			if (packet.type !== "connect") {
				this.#drop(s, `${packet.type.toUpperCase()} before CONNECT`, false);
				return;
			}
			this.#onConnect(s, packet);
			return;
		}
		switch (packet.type) {
			case "publish":
				this.#onPublish(s, packet);
				break;
			case "puback": {
				const record = s.awaiting.get(packet.id);
				s.awaiting.delete(packet.id);
				if (record) record.acknowledgedBy.push(s.clientId);
				this.#log("puback", s.clientId, `id ${packet.id}${record ? "" : " (unknown)"}`);
				break;
			}
			case "subscribe": {
				const codes: number[] = [];
				for (const sub of packet.subscriptions) {
					s.subscriptions.set(sub.topic, sub.qos);
					this.subscriptions.push({ atMs: this.#now, clientId: s.clientId, filter: sub.topic, qos: sub.qos });
					codes.push(sub.qos);
				}
				this.#send(s, { type: "suback", id: packet.id, reasonCodes: codes });
				this.#log("subscribe", s.clientId, packet.subscriptions.map((sub) => `${sub.topic} q${sub.qos}`).join(", "));
				break;
			}
			case "unsubscribe":
				for (const topic of packet.topics) s.subscriptions.delete(topic);
				this.#send(s, { type: "unsuback", id: packet.id });
				break;
			case "pingreq":
				this.pings++;
				this.#send(s, { type: "pingresp" });
				this.#log("ping", s.clientId);
				break;
			case "disconnect":
				s.will = undefined;
				this.#log("disconnect", s.clientId);
				this.#close(s);
				break;
			default:
				this.#drop(s, `unexpected ${packet.type.toUpperCase()}`, true);
		}
	}

	#onConnect(s: Session, packet: ConnectPacket): void {
		const token = packet.password ? utf8Decode(packet.password) ?? null : null;
		const record: ConnectRecord = {
			atMs: this.#now,
			clientId: packet.clientId,
			username: packet.username ?? null,
			bytes: s.bytesIn,
			keepAlive: packet.keepAlive,
			cleanSession: packet.cleanStart,
			will: packet.will ? { topic: packet.will.topic, qos: packet.will.qos, retain: packet.will.retain, bytes: packet.will.payload.length } : null,
			returnCode: 0,
			token,
		};
		this.connects.push(record);
		if (packet.protocolVersion !== VERSION) {
			record.returnCode = 1;
			record.refused = `protocol level ${packet.protocolVersion}`;
		}
		else if (packet.username === undefined || token === null) {
			record.returnCode = 4;
			record.refused = "no user name or password";
		}
		else {
			const o = this.#o;
			const result = verify(token, { secret: o.jwtSecret, hmac: o.hmac, now: o.clock.worldTime() / 1000, issuer: o.jwtIssuer, audience: o.jwtAudience });
			if (result.ok) record.claims = result.claims;
			else {
				record.returnCode = 5;
				record.refused = result.reason;
			}
		}
		if (record.returnCode !== 0) {
			this.#sendRaw(s, { type: "connack", sessionPresent: false, reasonCode: record.returnCode });
			this.#log("connack", packet.clientId, `refused ${record.returnCode}: ${record.refused ?? ""}`);
			this.#close(s);
			return;
		}
		for (const other of this.#sessions) {
			if (other !== s && other.open && other.clientId === packet.clientId) {
				other.will = undefined;
				this.#log("takeover", packet.clientId);
				this.#close(other);
			}
		}
		s.clientId = packet.clientId;
		s.keepAliveMs = packet.keepAlive * 1000;
		s.will = packet.will ? { type: "publish", topic: packet.will.topic, payload: packet.will.payload, qos: packet.will.qos, retain: packet.will.retain, dup: false } : undefined;
		this.#sendRaw(s, { type: "connack", sessionPresent: false, reasonCode: 0 });
		this.#log("connack", packet.clientId, "accepted");
		this.#watchKeepAlive(s);
	}

	#onPublish(s: Session, packet: PublishPacket): void {
		const payload = utf8Decode(packet.payload);
		if (payload === undefined) {
			this.#drop(s, `PUBLISH to ${packet.topic} is not UTF-8`, true);
			return;
		}
		this.publishes.push({ atMs: this.#now, clientId: s.clientId ?? "", topic: packet.topic, qos: packet.qos, retain: packet.retain, dup: packet.dup, payload, source: "client" });
		if (packet.retain) this.#retain(packet.topic, payload);
		if (packet.qos === 1) this.#send(s, { type: "puback", id: packet.id! });
		else if (packet.qos === 2) this.#drop(s, "QoS 2 is not supported by this fake", false);
	}

	#retain(topic: string, payload: string): void {
		if (payload === "") this.retained.delete(topic);
		else this.retained.set(topic, payload);
	}

	/** Closes a connection the broker gives up on; publishes the will when `will`. */
	#drop(s: Session, reason: string, will: boolean): void {
		if (!s.open) return;
		this.#log("drop", s.clientId, reason);
		if (will && s.will && s.clientId !== undefined) {
			const w = s.will;
			const payload = utf8Decode(w.payload) ?? "";
			this.publishes.push({ atMs: this.#now, clientId: s.clientId, topic: w.topic, qos: w.qos, retain: w.retain, dup: false, payload, source: "will" });
			if (w.retain) this.#retain(w.topic, payload);
			this.#log("will", s.clientId, w.topic);
		}
		s.will = undefined;
		this.#close(s);
	}

	#close(s: Session): void {
		if (!s.open) return;
		s.open = false;
		if (s.timer !== undefined) this.#o.clock.clear(s.timer);
		s.timer = undefined;
		this.#sessions.delete(s);
		s.link.close();
	}

	/** A client silent for 1.5 x its keepalive is gone (MQTT 3.1.1, 3.1.2.10). */
	#watchKeepAlive(s: Session): void {
		if (!s.open || !s.keepAliveMs) return;
		const grace = s.keepAliveMs * 1.5;
		const due = s.lastHeard + grace;
		s.timer = this.#o.clock.set(() => {
			s.timer = undefined;
			if (!s.open) return;
			if (this.#now >= s.lastHeard + grace) this.#drop(s, `nothing received for ${grace / 1000} s (keepalive ${s.keepAliveMs / 1000} s)`, true);
			else this.#watchKeepAlive(s);
		}, Math.max(0, due - this.#now));
	}

	#allocateId(s: Session): number {
		for (;;) {
			s.nextId = s.nextId >= 0xffff ? 1 : s.nextId + 1;
			if (!s.awaiting.has(s.nextId)) return s.nextId;
		}
	}

	#send(s: Session, packet: Packet): void {
		if (s.open) this.#sendRaw(s, packet);
	}

	#sendRaw(s: Session, packet: Packet): void {
		s.link.send(encode(packet, VERSION));
	}

	#log(event: string, clientId?: string, detail?: string): void {
		const e: BrokerEvent = { atMs: this.#now, event };
		if (clientId !== undefined) e.clientId = clientId;
		if (detail !== undefined) e.detail = detail;
		this.events.push(e);
	}
}

interface Link {
	dead: boolean;
	clientClosed: boolean;
	brokerClosed: boolean;
}

export interface NetworkStats {
	opened: number;
	refused: number;
	bytesToBroker: number;
	bytesToClient: number;
}

/**
 * The path between the device and the broker: one endpoint (host:port), reachable while the
 * device's WiFi is associated.
 */
export class FakeNetwork {
	readonly #clock: VirtualClock;
	readonly #broker: FakeBroker;
	readonly #endpoint: string;
	readonly #delayMs: number;
	readonly #links = new Set<Link>();
	#up = false;
	readonly stats: NetworkStats = { opened: 0, refused: 0, bytesToBroker: 0, bytesToClient: 0 };

	constructor(options: { clock: VirtualClock; broker: FakeBroker; host: string; port: number; delayMs: number }) {
		this.#clock = options.clock;
		this.#broker = options.broker;
		this.#endpoint = `${options.host}:${options.port}`;
		this.#delayMs = options.delayMs;
	}

	get up(): boolean {
		return this.#up;
	}

	/** The station joined (true) or lost (false) its access point; losing it kills every connection silently. */
	setUp(up: boolean): void {
		this.#up = up;
		if (up) return;
		for (const link of this.#links) link.dead = true;
		this.#links.clear();
	}

	readonly tcp: TransportFactory = (options: TransportOptions, events: TransportEvents): Transport => {
		const clock = this.#clock;
		const delay = this.#delayMs;
		const endpoint = `${options.host}:${options.port}`;
		const link: Link = { dead: false, clientClosed: false, brokerClosed: false };
		let side: BrokerSide | undefined;
		const failure = !this.#up ? { code: "unreachable" as const, message: "no network (WiFi is down)" }
			: options.tls ? { code: "tls" as const, message: "this broker does not speak TLS" }
			: endpoint !== this.#endpoint ? { code: "refused" as const, message: `connect ECONNREFUSED ${endpoint}` }
			: undefined;
		if (failure) {
			this.stats.refused++;
			link.clientClosed = true;
			clock.set(() => events.onClose(failure), delay);
		}
		else {
			this.stats.opened++;
			this.#links.add(link);
			const toClient: ClientLink = {
				send: (bytes) => {
					if (link.dead || link.brokerClosed) return;
					const copy = bytes.slice();
					this.stats.bytesToClient += copy.length;
					clock.set(() => {
						if (!link.dead && !link.clientClosed) events.onData(copy);
					}, delay);
				},
				close: () => {
					if (link.brokerClosed) return;
					link.brokerClosed = true;
					this.#links.delete(link);
					if (link.dead || link.clientClosed) return;
					clock.set(() => {
						if (!link.dead && !link.clientClosed) {
							link.clientClosed = true;
							events.onClose();
						}
					}, delay);
				},
			};
			clock.set(() => {
				if (link.dead || link.clientClosed) return;
				side = this.#broker.accept(toClient);
				events.onConnect();
			}, delay);
		}
		return {
			get writable() {
				return link.clientClosed ? 0 : WINDOW;
			},
			write: (bytes: Uint8Array) => {
				if (link.clientClosed) throw new Error("write after close");
				if (link.dead || link.brokerClosed) return;
				const copy = bytes.slice();
				this.stats.bytesToBroker += copy.length;
				clock.set(() => {
					if (!link.dead && !link.brokerClosed) side?.receive(copy);
				}, delay);
			},
			close: () => {
				if (link.clientClosed) return;
				link.clientClosed = true;
				this.#links.delete(link);
				if (link.dead || link.brokerClosed) return;
				clock.set(() => {
					if (!link.dead && !link.brokerClosed) side?.peerClosed();
				}, delay);
			},
		};
	};
}

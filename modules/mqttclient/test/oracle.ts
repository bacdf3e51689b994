/*
 * Test support shared by the codec and client tests (not a test file itself):
 * - a seeded PRNG and a generator of random, spec-valid packets in our representation;
 * - mappers between our packet objects and mqtt-packet's (the oracle), both ways;
 * - a canonical form of a packet, so two representations of the same packet compare equal.
 *
 * The generator only produces what the MQTT specification allows AND mqtt-packet can represent;
 * every restriction that exists only because of mqtt-packet is marked "mqtt-packet:".
 */

import mqttPacket from "mqtt-packet";
import type { AckPacket, AuthPacket, DisconnectPacket, Packet, Properties, ProtocolVersion, QoS, Subscription, Will } from "mqttclient/packets";
import { mulberry32 } from "../../../test-host/adapters/prng";

/* eslint-disable @typescript-eslint/no-explicit-any */
/** mqtt-packet's packet objects are loosely typed (booleans, Buffers, objects of string|string[]). */
export type MpPacket = any;

/* ----------------------------------------------------------------------------------------- */
/* Seeded randomness                                                                          */

export function prng(seed: number): () => number {
	return mulberry32(seed);
}

export class Rand {
	readonly next: () => number;
	constructor(seed: number) {
		this.next = prng(seed);
	}
	/** Integer in [lo, hi], both included. */
	int(lo: number, hi: number): number {
		return lo + Math.floor(this.next() * (hi - lo + 1));
	}
	bool(p = 0.5): boolean {
		return this.next() < p;
	}
	pick<T>(items: readonly T[]): T {
		return items[Math.floor(this.next() * items.length)];
	}
	bytes(n: number): Uint8Array {
		const out = new Uint8Array(n);
		for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
		return out;
	}
	/** Text of up to `max` code points mixing ASCII, Latin-1, CJK and astral characters (no U+0000, no wildcards). */
	text(max: number, min = 0): string {
		const n = this.int(min, max);
		let s = "";
		for (let i = 0; i < n; i++) s += this.pick(TEXT_PIECES);
		return s;
	}
	topicName(): string {
		const levels = this.int(1, 5);
		const parts: string[] = [];
		for (let i = 0; i < levels; i++) parts.push(this.text(8, i === 0 ? 1 : 0));
		return parts.join("/");
	}
	topicFilter(): string {
		const levels = this.int(1, 5);
		const parts: string[] = [];
		for (let i = 0; i < levels; i++) {
			if (i === levels - 1 && this.bool(0.2)) parts.push("#");
			else if (this.bool(0.2)) parts.push("+");
			else parts.push(this.text(8, 1));
		}
		return parts.join("/");
	}
}

const TEXT_PIECES = [
	"a", "b", "c", "x", "y", "z", "A", "Q", "0", "7", "9", "-", "_", ".", " ", "$",
	"é", "ß", "Ω", "ж", "\u00a0", "温", "度", "計", "€", "🌡", "😀", "𝄞",
];

/* ----------------------------------------------------------------------------------------- */
/* Reason codes (MQTT 5.0 section 2.4 and the per-packet tables)                             */

export const CONNACK_V5_CODES = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f];
export const PUBACK_V5_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
export const PUBREL_V5_CODES = [0x00, 0x92];
export const SUBACK_V5_CODES = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
export const UNSUBACK_V5_CODES = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
export const DISCONNECT_V5_CODES = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2];
export const AUTH_V5_CODES = [0x00, 0x18, 0x19];

/* ----------------------------------------------------------------------------------------- */
/* Random packets                                                                             */

type PropName = keyof Properties;

/** Properties that are a Byte with values 0 or 1; mqtt-packet represents them as booleans. */
const BOOLEAN_BYTE = new Set<PropName>([
	"payloadFormatIndicator", "requestProblemInformation", "requestResponseInformation", "retainAvailable",
	"wildcardSubscriptionAvailable", "subscriptionIdentifierAvailable", "sharedSubscriptionAvailable",
]);
const U16: readonly PropName[] = ["serverKeepAlive", "receiveMaximum", "topicAliasMaximum", "topicAlias"];
const U32: readonly PropName[] = ["messageExpiryInterval", "sessionExpiryInterval", "willDelayInterval", "maximumPacketSize"];
const STRING: readonly PropName[] = ["contentType", "responseTopic", "assignedClientIdentifier", "authenticationMethod", "responseInformation", "serverReference", "reasonString"];
const BINARY: readonly PropName[] = ["correlationData", "authenticationData"];

export const PROPS_FOR: Record<string, readonly PropName[]> = {
	connect: ["sessionExpiryInterval", "receiveMaximum", "maximumPacketSize", "topicAliasMaximum", "requestResponseInformation", "requestProblemInformation", "userProperties", "authenticationMethod", "authenticationData"],
	will: ["willDelayInterval", "payloadFormatIndicator", "messageExpiryInterval", "contentType", "responseTopic", "correlationData", "userProperties"],
	connack: ["sessionExpiryInterval", "receiveMaximum", "maximumQoS", "retainAvailable", "maximumPacketSize", "assignedClientIdentifier", "topicAliasMaximum", "reasonString", "userProperties", "wildcardSubscriptionAvailable", "subscriptionIdentifierAvailable", "sharedSubscriptionAvailable", "serverKeepAlive", "responseInformation", "serverReference", "authenticationMethod", "authenticationData"],
	publish: ["payloadFormatIndicator", "messageExpiryInterval", "topicAlias", "responseTopic", "correlationData", "userProperties", "subscriptionIdentifier", "contentType"],
	ack: ["reasonString", "userProperties"],
	subscribe: ["subscriptionIdentifier", "userProperties"],
	unsubscribe: ["userProperties"],
	disconnect: ["sessionExpiryInterval", "reasonString", "userProperties", "serverReference"],
	auth: ["authenticationMethod", "authenticationData", "reasonString", "userProperties"],
};

const VARINT_EDGES = [1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455];
const U32_EDGES = [0, 1, 255, 256, 65_535, 65_536, 0x7fffffff, 0x80000000, 0xffffffff];

function propValue(r: Rand, name: PropName, context: string): unknown {
	if (BOOLEAN_BYTE.has(name)) return r.int(0, 1);
	if (name === "maximumQoS") return r.int(0, 1); // 2 is a Protocol Error (3.2.2.3.4)
	if (U16.includes(name)) {
		// Receive Maximum and Topic Alias 0 are Protocol Errors.
		const lo = name === "receiveMaximum" || name === "topicAlias" ? 1 : 0;
		return r.bool(0.3) ? r.pick([lo, 255, 256, 65_535]) : r.int(lo, 65_535);
	}
	if (U32.includes(name)) {
		const lo = name === "maximumPacketSize" ? 1 : 0; // 0 is a Protocol Error
		return r.bool(0.4) ? Math.max(lo, r.pick(U32_EDGES)) : r.int(lo, 0xffffffff);
	}
	if (STRING.includes(name)) return r.bool(0.05) ? r.text(400, 200) : r.text(20);
	if (BINARY.includes(name)) return r.bytes(r.bool(0.1) ? 0 : r.int(1, 40));
	if (name === "subscriptionIdentifier") {
		// A broker may send several on a PUBLISH; SUBSCRIBE carries at most one. 0 is a Protocol Error.
		const n = context === "publish" ? r.int(1, 3) : 1;
		const out: number[] = [];
		for (let i = 0; i < n; i++) out.push(r.bool(0.5) ? r.pick(VARINT_EDGES) : r.int(1, 268_435_455));
		return out;
	}
	if (name === "userProperties") {
		const n = r.int(1, 4);
		const out: [string, string][] = [];
		// Keys from a small set so that repeated keys (allowed by the spec) occur.
		// mqtt-packet: a repeated key whose first value is "" loses that value when parsed
		// (`if (result[name][key])` is falsy), so values are never empty.
		for (let i = 0; i < n; i++) out.push([r.pick(["k", "key", "ключ", "", "temp°C", "1"]), r.text(12, 1)]);
		return out;
	}
	throw new Error(`no generator for property ${name}`);
}

function randomProps(r: Rand, context: string): Properties | undefined {
	if (r.bool(0.25)) return undefined;
	const props: Record<string, unknown> = {};
	for (const name of PROPS_FOR[context]) if (r.bool(0.35)) props[name] = propValue(r, name, context);
	return props as Properties;
}

function randomPayload(r: Rand): Uint8Array {
	const roll = r.next();
	if (roll < 0.1) return new Uint8Array(0);
	if (roll < 0.7) return r.bytes(r.int(1, 100));
	if (roll < 0.95) return r.bytes(r.int(100, 5000));
	return r.bytes(r.int(16_380, 70_000)); // remaining length needs 3 bytes
}

export const PACKET_TYPES = ["connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"] as const;

/** A random packet of `type` (or any type valid for the version), valid per the spec. */
export function randomPacket(r: Rand, version: ProtocolVersion, type?: Packet["type"]): Packet {
	const v5 = version === 5;
	const types = v5 ? PACKET_TYPES : PACKET_TYPES.filter((t) => t !== "auth");
	const t = type ?? r.pick(types);
	const id = () => (r.bool(0.2) ? r.pick([1, 255, 256, 65_535]) : r.int(1, 65_535));
	const props = (context: string) => (v5 ? randomProps(r, context) : undefined);
	const withProps = <P extends Packet>(p: P, context: string): P => {
		const pr = props(context);
		if (pr) (p as { properties?: Properties }).properties = pr;
		return p;
	};
	switch (t) {
		case "connect": {
			const clientId = r.bool(0.1) ? "" : r.text(23, 1);
			const p: Packet = {
				type: "connect",
				protocolVersion: version,
				clientId,
				keepAlive: r.bool(0.3) ? r.pick([0, 60, 65_535]) : r.int(0, 65_535),
				// mqtt-packet (and 3.1.1, 3.1.3-7): an empty client id requires a clean session.
				cleanStart: clientId === "" ? true : r.bool(),
			};
			// mqtt-packet (and 3.1.1, 3.1.2-22): a password requires a user name; 5.0 would allow it alone.
			if (r.bool(0.6)) {
				p.username = r.text(30);
				if (r.bool(0.7)) p.password = r.bytes(r.bool(0.1) ? 0 : r.int(1, r.bool(0.1) ? 1500 : 60));
			}
			if (r.bool(0.5)) {
				p.will = { topic: r.topicName(), payload: randomPayload(r).subarray(0, 3000), qos: r.int(0, 2) as QoS, retain: r.bool() };
				const wp = props("will");
				if (wp) p.will.properties = wp;
			}
			return withProps(p, "connect");
		}
		case "connack": {
			const reasonCode = v5 ? r.pick(CONNACK_V5_CODES) : r.int(0, 5);
			// Session Present must be 0 with a refusal (3.2.2-4 / 3.2.2-6).
			return withProps({ type: "connack", sessionPresent: reasonCode === 0 && r.bool(), reasonCode }, "connack");
		}
		case "publish": {
			const qos = r.int(0, 2) as QoS;
			// DUP must be 0 for QoS 0 (3.3.1-2).
			const p: Packet = { type: "publish", topic: r.topicName(), payload: randomPayload(r), qos, retain: r.bool(), dup: qos > 0 && r.bool() };
			if (qos > 0) p.id = id();
			withProps(p, "publish");
			// 5.0: with a Topic Alias the topic name may be empty (3.3.2.3.4).
			if (p.properties?.topicAlias !== undefined && r.bool(0.5)) p.topic = "";
			return p;
		}
		case "puback":
		case "pubrec":
		case "pubrel":
		case "pubcomp": {
			const p: Packet = { type: t, id: id() };
			if (v5 && r.bool(0.7)) p.reasonCode = r.pick(t === "puback" || t === "pubrec" ? PUBACK_V5_CODES : PUBREL_V5_CODES);
			return withProps(p, "ack");
		}
		case "subscribe": {
			const n = r.int(1, 5);
			const subscriptions: Subscription[] = [];
			for (let i = 0; i < n; i++) {
				const s: Subscription = { topic: r.topicFilter(), qos: r.int(0, 2) as QoS };
				if (v5) {
					s.noLocal = r.bool();
					s.retainAsPublished = r.bool();
					s.retainHandling = r.int(0, 2) as 0 | 1 | 2;
				}
				subscriptions.push(s);
			}
			return withProps({ type: "subscribe", id: id(), subscriptions }, "subscribe");
		}
		case "suback": {
			const n = r.int(1, 6);
			const reasonCodes: number[] = [];
			for (let i = 0; i < n; i++) reasonCodes.push(r.pick(v5 ? SUBACK_V5_CODES : [0, 1, 2, 0x80]));
			return withProps({ type: "suback", id: id(), reasonCodes }, "ack");
		}
		case "unsubscribe": {
			const n = r.int(1, 5);
			const topics: string[] = [];
			for (let i = 0; i < n; i++) topics.push(r.topicFilter());
			return withProps({ type: "unsubscribe", id: id(), topics }, "unsubscribe");
		}
		case "unsuback": {
			if (!v5) return { type: "unsuback", id: id() };
			const n = r.int(1, 6);
			const reasonCodes: number[] = [];
			for (let i = 0; i < n; i++) reasonCodes.push(r.pick(UNSUBACK_V5_CODES));
			return withProps({ type: "unsuback", id: id(), reasonCodes }, "ack");
		}
		case "pingreq":
		case "pingresp":
			return { type: t };
		case "disconnect": {
			if (!v5) return { type: "disconnect" };
			const p: Packet = { type: "disconnect" };
			if (r.bool(0.7)) p.reasonCode = r.pick(DISCONNECT_V5_CODES);
			return withProps(p, "disconnect");
		}
		case "auth": {
			const p: Packet = { type: "auth" };
			if (r.bool(0.8)) p.reasonCode = r.pick(AUTH_V5_CODES);
			return withProps(p, "auth");
		}
	}
}

/* ----------------------------------------------------------------------------------------- */
/* Mapping ours <-> mqtt-packet                                                               */

const MP_NAME: Partial<Record<PropName, string>> = { subscriptionIdentifierAvailable: "subscriptionIdentifiersAvailable" };
const OUR_NAME: Record<string, PropName> = { subscriptionIdentifiersAvailable: "subscriptionIdentifierAvailable" };

function toMpProps(p: Properties | undefined): Record<string, unknown> | undefined {
	if (!p) return undefined;
	const out: Record<string, unknown> = {};
	for (const [name, value] of Object.entries(p) as [PropName, unknown][]) {
		if (value === undefined) continue;
		const mpName = MP_NAME[name] ?? name;
		if (BOOLEAN_BYTE.has(name)) out[mpName] = value === 1;
		else if (value instanceof Uint8Array) out[mpName] = Buffer.from(value);
		else if (name === "subscriptionIdentifier") {
			const ids = value as number[];
			if (ids.length) out[mpName] = ids.length === 1 ? ids[0] : [...ids];
		}
		else if (name === "userProperties") {
			const pairs = value as [string, string][];
			if (!pairs.length) continue;
			const bag: Record<string, string | string[]> = Object.create(null);
			for (const [k, v] of pairs) {
				const have = bag[k];
				if (have === undefined) bag[k] = v;
				else if (Array.isArray(have)) have.push(v);
				else bag[k] = [have, v];
			}
			out[mpName] = bag;
		}
		else out[mpName] = value;
	}
	return out;
}

function fromMpProps(p: Record<string, unknown> | undefined): Properties | undefined {
	if (!p) return undefined;
	const out: Record<string, unknown> = {};
	for (const [mpName, value] of Object.entries(p)) {
		const name = (OUR_NAME[mpName] ?? mpName) as PropName;
		if (typeof value === "boolean") out[name] = value ? 1 : 0;
		else if (Buffer.isBuffer(value)) out[name] = new Uint8Array(value);
		else if (name === "subscriptionIdentifier") out[name] = Array.isArray(value) ? [...value] : [value];
		else if (name === "userProperties") {
			const pairs: [string, string][] = [];
			for (const [k, v] of Object.entries(value as Record<string, string | string[]>)) {
				if (Array.isArray(v)) for (const item of v) pairs.push([k, item]);
				else pairs.push([k, v]);
			}
			out[name] = pairs;
		}
		else out[name] = value;
	}
	return out as Properties;
}

function setMpProps(target: MpPacket, props: Properties | undefined): MpPacket {
	const p = toMpProps(props);
	if (p) target.properties = p;
	return target;
}

/** Our packet as mqtt-packet's object. */
export function toMp(p: Packet, version: ProtocolVersion): MpPacket {
	const v5 = version === 5;
	switch (p.type) {
		case "connect": {
			const m: MpPacket = { cmd: "connect", protocolId: "MQTT", protocolVersion: p.protocolVersion, clientId: p.clientId, clean: p.cleanStart, keepalive: p.keepAlive };
			if (p.username !== undefined) m.username = p.username;
			if (p.password !== undefined) m.password = Buffer.from(p.password);
			if (p.will) {
				m.will = { topic: p.will.topic, payload: Buffer.from(p.will.payload), qos: p.will.qos, retain: p.will.retain };
				if (p.protocolVersion === 5) setMpProps(m.will, p.will.properties);
			}
			return p.protocolVersion === 5 ? setMpProps(m, p.properties) : m;
		}
		case "connack": {
			const m: MpPacket = { cmd: "connack", sessionPresent: p.sessionPresent };
			if (v5) m.reasonCode = p.reasonCode;
			else m.returnCode = p.reasonCode;
			return v5 ? setMpProps(m, p.properties) : m;
		}
		case "publish": {
			const m: MpPacket = { cmd: "publish", topic: p.topic, payload: Buffer.from(p.payload), qos: p.qos, retain: p.retain, dup: p.dup };
			if (p.qos > 0) m.messageId = p.id;
			return v5 ? setMpProps(m, p.properties) : m;
		}
		case "puback":
		case "pubrec":
		case "pubrel":
		case "pubcomp": {
			// mqtt-packet writes `reasonCode` as given; undefined would become a 0 byte with an empty
			// property length, so the implicit success is spelled out.
			const m: MpPacket = { cmd: p.type, messageId: p.id };
			if (v5) m.reasonCode = p.reasonCode ?? 0;
			return v5 ? setMpProps(m, p.properties) : m;
		}
		case "subscribe":
			return setMpProps({
				cmd: "subscribe",
				messageId: p.id,
				subscriptions: p.subscriptions.map((s) => (v5
					? { topic: s.topic, qos: s.qos, nl: !!s.noLocal, rap: !!s.retainAsPublished, rh: s.retainHandling ?? 0 }
					: { topic: s.topic, qos: s.qos })),
			}, v5 ? p.properties : undefined);
		case "suback":
			return setMpProps({ cmd: "suback", messageId: p.id, granted: [...p.reasonCodes] }, v5 ? p.properties : undefined);
		case "unsubscribe":
			return setMpProps({ cmd: "unsubscribe", messageId: p.id, unsubscriptions: [...p.topics] }, v5 ? p.properties : undefined);
		case "unsuback": {
			const m: MpPacket = { cmd: "unsuback", messageId: p.id };
			if (v5) m.granted = [...(p.reasonCodes ?? [])];
			return v5 ? setMpProps(m, p.properties) : m;
		}
		case "pingreq":
		case "pingresp":
			return { cmd: p.type };
		case "disconnect":
		case "auth": {
			const m: MpPacket = { cmd: p.type };
			if (v5) m.reasonCode = p.reasonCode ?? 0;
			return v5 ? setMpProps(m, p.properties) : m;
		}
	}
}

function setProps<T extends Packet | Will>(target: T, props: Properties | undefined): T {
	if (props && Object.keys(props).length) (target as { properties?: Properties }).properties = props;
	return target;
}

/** mqtt-packet's parsed object as our packet. */
export function fromMp(m: MpPacket, version: ProtocolVersion): Packet {
	const v5 = version === 5;
	const props = fromMpProps(m.properties);
	switch (m.cmd as Packet["type"]) {
		case "connect": {
			const p: Packet = { type: "connect", protocolVersion: m.protocolVersion, clientId: m.clientId, keepAlive: m.keepalive, cleanStart: m.clean };
			if (m.username !== undefined) p.username = m.username;
			if (m.password !== undefined) p.password = new Uint8Array(m.password);
			if (m.will) {
				p.will = { topic: m.will.topic, payload: new Uint8Array(m.will.payload), qos: m.will.qos, retain: m.will.retain };
				setProps(p.will, fromMpProps(m.will.properties));
			}
			return setProps(p, props);
		}
		case "connack":
			return setProps({ type: "connack", sessionPresent: m.sessionPresent, reasonCode: v5 ? m.reasonCode : m.returnCode }, props);
		case "publish": {
			const p: Packet = { type: "publish", topic: m.topic, payload: new Uint8Array(m.payload), qos: m.qos, retain: m.retain, dup: m.dup };
			if (m.qos > 0) p.id = m.messageId;
			return setProps(p, props);
		}
		case "puback":
		case "pubrec":
		case "pubrel":
		case "pubcomp": {
			const p: AckPacket = { type: m.cmd, id: m.messageId };
			if (v5) p.reasonCode = m.reasonCode;
			return setProps(p, props);
		}
		case "subscribe":
			return setProps({
				type: "subscribe",
				id: m.messageId,
				subscriptions: m.subscriptions.map((s: MpPacket): Subscription => (v5
					? { topic: s.topic, qos: s.qos, noLocal: s.nl, retainAsPublished: s.rap, retainHandling: s.rh }
					: { topic: s.topic, qos: s.qos })),
			}, props);
		case "suback":
			return setProps({ type: "suback", id: m.messageId, reasonCodes: [...m.granted] }, props);
		case "unsubscribe":
			return setProps({ type: "unsubscribe", id: m.messageId, topics: [...m.unsubscriptions] }, props);
		case "unsuback": {
			const p: Packet = { type: "unsuback", id: m.messageId };
			if (v5) p.reasonCodes = [...(m.granted ?? [])];
			return setProps(p, props);
		}
		case "pingreq":
		case "pingresp":
			return { type: m.cmd };
		case "disconnect":
		case "auth": {
			const p: DisconnectPacket | AuthPacket = { type: m.cmd };
			if (v5) p.reasonCode = m.reasonCode;
			return setProps(p, props);
		}
	}
	throw new Error(`unknown mqtt-packet cmd ${String(m.cmd)}`);
}

/* ----------------------------------------------------------------------------------------- */
/* Canonical form                                                                             */

export function hex(bytes: Uint8Array): string {
	return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

function canonProps(p: Properties | undefined): Record<string, unknown> | undefined {
	if (!p) return undefined;
	const out: Record<string, unknown> = {};
	for (const [name, value] of Object.entries(p)) {
		if (value === undefined) continue;
		if (name === "userProperties") {
			// mqtt-packet keeps the order of values per key, not across keys.
			const pairs = value as [string, string][];
			if (!pairs.length) continue;
			const grouped: Record<string, string[]> = {};
			for (const [k, v] of pairs) (grouped[k] ??= []).push(v);
			out[name] = Object.keys(grouped).sort().map((k) => [k, grouped[k]]);
		}
		else if (name === "subscriptionIdentifier") {
			if ((value as number[]).length) out[name] = [...(value as number[])];
		}
		else if (value instanceof Uint8Array) out[name] = hex(value);
		else out[name] = value;
	}
	return Object.keys(out).length ? out : undefined;
}

function clean(o: Record<string, unknown>): Record<string, unknown> {
	for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
	return o;
}

/**
 * A plain object that two equivalent packets share whatever their representation: implicit
 * defaults made explicit (5.0 reason code 0, subscription options), bytes as hex, user properties grouped.
 */
export function canon(p: Packet, version: ProtocolVersion): Record<string, unknown> {
	const v5 = version === 5;
	switch (p.type) {
		case "connect": {
			const cv5 = p.protocolVersion === 5;
			return clean({
				type: p.type, protocolVersion: p.protocolVersion, clientId: p.clientId, keepAlive: p.keepAlive, cleanStart: p.cleanStart,
				username: p.username, password: p.password && hex(p.password),
				will: p.will && clean({ topic: p.will.topic, payload: hex(p.will.payload), qos: p.will.qos, retain: p.will.retain, properties: cv5 ? canonProps(p.will.properties) : undefined }),
				properties: cv5 ? canonProps(p.properties) : undefined,
			});
		}
		case "connack":
			return clean({ type: p.type, sessionPresent: p.sessionPresent, reasonCode: p.reasonCode, properties: v5 ? canonProps(p.properties) : undefined });
		case "publish":
			return clean({ type: p.type, topic: p.topic, payload: hex(p.payload), qos: p.qos, retain: p.retain, dup: p.dup, id: p.qos > 0 ? p.id : undefined, properties: v5 ? canonProps(p.properties) : undefined });
		case "puback":
		case "pubrec":
		case "pubrel":
		case "pubcomp":
			return clean({ type: p.type, id: p.id, reasonCode: v5 ? p.reasonCode ?? 0 : undefined, properties: v5 ? canonProps(p.properties) : undefined });
		case "subscribe":
			return clean({
				type: p.type, id: p.id,
				subscriptions: p.subscriptions.map((s) => (v5
					? { topic: s.topic, qos: s.qos, noLocal: !!s.noLocal, retainAsPublished: !!s.retainAsPublished, retainHandling: s.retainHandling ?? 0 }
					: { topic: s.topic, qos: s.qos })),
				properties: v5 ? canonProps(p.properties) : undefined,
			});
		case "suback":
			return clean({ type: p.type, id: p.id, reasonCodes: [...p.reasonCodes], properties: v5 ? canonProps(p.properties) : undefined });
		case "unsubscribe":
			return clean({ type: p.type, id: p.id, topics: [...p.topics], properties: v5 ? canonProps(p.properties) : undefined });
		case "unsuback":
			return clean({ type: p.type, id: p.id, reasonCodes: v5 ? [...(p.reasonCodes ?? [])] : undefined, properties: v5 ? canonProps(p.properties) : undefined });
		case "pingreq":
		case "pingresp":
			return { type: p.type };
		case "disconnect":
		case "auth":
			return clean({ type: p.type, reasonCode: v5 ? p.reasonCode ?? 0 : undefined, properties: v5 ? canonProps(p.properties) : undefined });
	}
}

/* ----------------------------------------------------------------------------------------- */
/* mqtt-packet helpers                                                                        */

/** mqtt-packet's encoding of our packet. */
export function mpEncode(p: Packet, version: ProtocolVersion): Uint8Array {
	return new Uint8Array(mqttPacket.generate(toMp(p, version), { protocolVersion: version }));
}

/** Parses a byte stream with mqtt-packet; returns its packets (as ours) and the first error. */
export function mpParse(bytes: Uint8Array | readonly Uint8Array[], version: ProtocolVersion): { packets: Packet[]; raw: MpPacket[]; error?: Error } {
	const parser = mqttPacket.parser({ protocolVersion: version });
	const packets: Packet[] = [];
	const raw: MpPacket[] = [];
	let error: Error | undefined;
	parser.on("packet", (m: MpPacket) => {
		raw.push(m);
		packets.push(fromMp(m, version));
	});
	parser.on("error", (e: Error) => { error ??= e; });
	const chunks = bytes instanceof Uint8Array ? [bytes] : bytes;
	for (const chunk of chunks) {
		if (error) break;
		parser.parse(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
	}
	return error ? { packets, raw, error } : { packets, raw };
}

/* ----------------------------------------------------------------------------------------- */
/* Mutation of byte streams (fuzzing)                                                         */

/** 1 to 4 random mutations of `input`: bit flips, truncation, insertions, duplications, deletions, 0xff bytes. */
export function mutate(r: Rand, input: Uint8Array): Uint8Array {
	let b = Array.from(input);
	const count = r.int(1, 4);
	for (let m = 0; m < count; m++) {
		const at = b.length ? r.int(0, b.length - 1) : 0;
		switch (r.int(0, 6)) {
			case 0: // bit flip
				if (b.length) b[at] ^= 1 << r.int(0, 7);
				break;
			case 1: // truncation
				b = b.slice(0, at);
				break;
			case 2: { // insertion of random bytes
				const ins = Array.from(r.bytes(r.int(1, 8)));
				b.splice(at, 0, ...ins);
				break;
			}
			case 3: { // duplication of a slice
				const len = r.int(1, 32);
				b.splice(at, 0, ...b.slice(at, at + len));
				break;
			}
			case 4: // deletion of a range
				b.splice(at, r.int(1, 8));
				break;
			case 5: // a random byte where a length or type byte is likely
				if (b.length) b[r.bool() ? 0 : Math.min(1, b.length - 1)] = r.int(0, 255);
				break;
			case 6: // overwrite with 0xff (varint continuation, huge lengths)
				if (b.length) b[at] = 0xff;
				break;
		}
	}
	return new Uint8Array(b);
}

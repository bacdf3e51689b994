/*
 * MQTT 3.1.1 / 5.0 codec: packets to bytes and bytes to packets. Pure: no sockets, no timers.
 *
 * encode() sizes a packet exactly before allocating it, so a caller can refuse a packet that would
 * not fit its buffer (packetSize()) before a single byte is written.
 *
 * Decoder is incremental: feed it chunks of any size (one byte at a time or several packets at
 * once). It buffers at most `maxPacketSize` bytes; a larger packet is drained without being
 * buffered and reported through onOversize, after the checks any packet gets on what is known of
 * it (its head). Malformed input is reported through onError and never escapes as an exception.
 */

import { utf8Decode, utf8Encode, utf8Length, utf8Write } from "bytes";
import {
	PACKET_TYPE_NAME,
	PACKET_TYPE_NUMBER,
	type AckPacket,
	type AuthPacket,
	type ConnackPacket,
	type ConnectPacket,
	type DisconnectPacket,
	type Packet,
	type PacketType,
	type Properties,
	type ProtocolVersion,
	type PublishPacket,
	type QoS,
	type SubackPacket,
	type SubscribePacket,
	type Subscription,
	type UnsubackPacket,
	type UnsubscribePacket,
	type Will,
} from "mqttclient/packets";
import { deepFreeze } from "frozen";

export const MAX_REMAINING_LENGTH = 268_435_455;

export class CodecError extends Error {
	// A field, not an assignment: once modules are preloaded, Error.prototype is frozen and
	// assigning `this.name` would throw (the "override mistake").
	override readonly name = "CodecError";
	/** "malformed" for bad input bytes, "invalid" for a packet object that cannot be encoded. */
	readonly code: "malformed" | "invalid";
	constructor(code: "malformed" | "invalid", message: string) {
		super(message);
		this.code = code;
	}
}

/* ----------------------------------------------------------------------------------------- */
/* Properties                                                                                 */

type PropertyKind = "byte" | "u16" | "u32" | "varint" | "string" | "binary" | "pair";
interface PropertyInfo {
	id: number;
	name: keyof Properties;
	kind: PropertyKind;
	repeat?: boolean;
}

const PROPERTY_LIST: readonly PropertyInfo[] = deepFreeze([
	{ id: 0x01, name: "payloadFormatIndicator", kind: "byte" },
	{ id: 0x02, name: "messageExpiryInterval", kind: "u32" },
	{ id: 0x03, name: "contentType", kind: "string" },
	{ id: 0x08, name: "responseTopic", kind: "string" },
	{ id: 0x09, name: "correlationData", kind: "binary" },
	{ id: 0x0b, name: "subscriptionIdentifier", kind: "varint", repeat: true },
	{ id: 0x11, name: "sessionExpiryInterval", kind: "u32" },
	{ id: 0x12, name: "assignedClientIdentifier", kind: "string" },
	{ id: 0x13, name: "serverKeepAlive", kind: "u16" },
	{ id: 0x15, name: "authenticationMethod", kind: "string" },
	{ id: 0x16, name: "authenticationData", kind: "binary" },
	{ id: 0x17, name: "requestProblemInformation", kind: "byte" },
	{ id: 0x18, name: "willDelayInterval", kind: "u32" },
	{ id: 0x19, name: "requestResponseInformation", kind: "byte" },
	{ id: 0x1a, name: "responseInformation", kind: "string" },
	{ id: 0x1c, name: "serverReference", kind: "string" },
	{ id: 0x1f, name: "reasonString", kind: "string" },
	{ id: 0x21, name: "receiveMaximum", kind: "u16" },
	{ id: 0x22, name: "topicAliasMaximum", kind: "u16" },
	{ id: 0x23, name: "topicAlias", kind: "u16" },
	{ id: 0x24, name: "maximumQoS", kind: "byte" },
	{ id: 0x25, name: "retainAvailable", kind: "byte" },
	{ id: 0x26, name: "userProperties", kind: "pair", repeat: true },
	{ id: 0x27, name: "maximumPacketSize", kind: "u32" },
	{ id: 0x28, name: "wildcardSubscriptionAvailable", kind: "byte" },
	{ id: 0x29, name: "subscriptionIdentifierAvailable", kind: "byte" },
	{ id: 0x2a, name: "sharedSubscriptionAvailable", kind: "byte" },
]);

const PROPERTY_BY_ID: readonly (PropertyInfo | undefined)[] = deepFreeze(PROPERTY_LIST.reduce<(PropertyInfo | undefined)[]>((byId, info) => {
	byId[info.id] = info;
	return byId;
}, []));

/* ----------------------------------------------------------------------------------------- */
/* Writer: runs once without a buffer to measure, once with one to write.                    */

class Writer {
	pos = 0;
	readonly buf: Uint8Array | undefined;
	constructor(buf?: Uint8Array, pos = 0) {
		this.buf = buf;
		this.pos = pos;
	}
	byte(v: number): void {
		if (this.buf) this.buf[this.pos] = v;
		this.pos += 1;
	}
	u16(v: number): void {
		if (this.buf) {
			this.buf[this.pos] = v >> 8;
			this.buf[this.pos + 1] = v & 0xff;
		}
		this.pos += 2;
	}
	u32(v: number): void {
		if (this.buf) {
			this.buf[this.pos] = (v >>> 24) & 0xff;
			this.buf[this.pos + 1] = (v >>> 16) & 0xff;
			this.buf[this.pos + 2] = (v >>> 8) & 0xff;
			this.buf[this.pos + 3] = v & 0xff;
		}
		this.pos += 4;
	}
	varint(v: number): void {
		do {
			let digit = v % 128;
			v = Math.floor(v / 128);
			if (v > 0) digit |= 0x80;
			this.byte(digit);
		} while (v > 0);
	}
	string(s: string): void {
		if (!this.buf) {
			const length = utf8Length(s);
			if (length > 0xffff) throw new CodecError("invalid", `string of ${length} bytes exceeds 65535`);
			this.pos += 2 + length;
			return;
		}
		const start = this.pos;
		const end = utf8Write(s, this.buf, start + 2);
		this.u16(end - start - 2);
		this.pos = end;
	}
	binary(b: Uint8Array): void {
		if (b.length > 0xffff) throw new CodecError("invalid", `binary field of ${b.length} bytes exceeds 65535`);
		this.u16(b.length);
		this.raw(b);
	}
	raw(b: Uint8Array): void {
		if (this.buf) this.buf.set(b, this.pos);
		this.pos += b.length;
	}
}

export function varintSize(v: number): number {
	return v < 128 ? 1 : v < 16_384 ? 2 : v < 2_097_152 ? 3 : 4;
}

function writePropertyValue(w: Writer, kind: PropertyKind, value: unknown): void {
	switch (kind) {
		case "byte": w.byte(checkRange(value, 0xff)); break;
		case "u16": w.u16(checkRange(value, 0xffff)); break;
		case "u32": w.u32(checkRange(value, 0xffffffff)); break;
		case "varint": w.varint(checkRange(value, MAX_REMAINING_LENGTH)); break;
		case "string": w.string(value as string); break;
		case "binary": w.binary(value as Uint8Array); break;
		case "pair": {
			const [k, v] = value as [string, string];
			w.string(k);
			w.string(v);
			break;
		}
	}
}

function checkRange(value: unknown, max: number): number {
	if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max)
		throw new CodecError("invalid", `property value ${String(value)} out of range 0..${max}`);
	return value;
}

function writePropertyList(w: Writer, props: Properties): void {
	for (const info of PROPERTY_LIST) {
		const value = props[info.name];
		if (value === undefined) continue;
		if (info.repeat) {
			for (const item of value as unknown[]) {
				w.byte(info.id);
				writePropertyValue(w, info.kind, item);
			}
		}
		else {
			w.byte(info.id);
			writePropertyValue(w, info.kind, value);
		}
	}
}

function writeProperties(w: Writer, props: Properties | undefined): void {
	if (!props) {
		w.byte(0);
		return;
	}
	const counter = new Writer();
	writePropertyList(counter, props);
	w.varint(counter.pos);
	writePropertyList(w, props);
}

/* ----------------------------------------------------------------------------------------- */
/* Encoding                                                                                   */

function checkId(id: number | undefined): number {
	if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 0xffff)
		throw new CodecError("invalid", `packet identifier ${String(id)} out of range 1..65535`);
	return id;
}

function checkQoS(qos: number): QoS {
	if (qos !== 0 && qos !== 1 && qos !== 2) throw new CodecError("invalid", `QoS ${qos} is not 0, 1 or 2`);
	return qos;
}

function fixedHeaderFlags(packet: Packet): number {
	switch (packet.type) {
		case "publish":
			return (packet.dup ? 8 : 0) | (checkQoS(packet.qos) << 1) | (packet.retain ? 1 : 0);
		case "pubrel":
		case "subscribe":
		case "unsubscribe":
			return 2;
		default:
			return 0;
	}
}

function writeConnect(w: Writer, p: ConnectPacket): void {
	const v5 = p.protocolVersion === 5;
	w.string("MQTT");
	w.byte(p.protocolVersion);
	let flags = p.cleanStart ? 0x02 : 0;
	if (p.will) flags |= 0x04 | (checkQoS(p.will.qos) << 3) | (p.will.retain ? 0x20 : 0);
	if (p.password !== undefined) flags |= 0x40;
	if (p.username !== undefined) flags |= 0x80;
	w.byte(flags);
	w.u16(checkRange(p.keepAlive, 0xffff));
	if (v5) writeProperties(w, p.properties);
	w.string(p.clientId);
	if (p.will) {
		if (v5) writeProperties(w, p.will.properties);
		w.string(p.will.topic);
		w.binary(p.will.payload);
	}
	if (p.username !== undefined) w.string(p.username);
	if (p.password !== undefined) w.binary(p.password);
}

function writeAck(w: Writer, p: AckPacket | DisconnectPacket | AuthPacket, v5: boolean, hasId: boolean): void {
	if (hasId) w.u16(checkId((p as AckPacket).id));
	if (!v5) return;
	const rc = p.reasonCode ?? 0;
	const props = p.properties && Object.keys(p.properties).length ? p.properties : undefined;
	if (rc === 0 && !props) {
		// The reason code and property length may be omitted for success (2.2.2 / 3.4.2.1).
		if (!hasId) w.byte(0);
		return;
	}
	w.byte(checkRange(rc, 0xff));
	if (props) writeProperties(w, props);
}

function writeBody(w: Writer, p: Packet, version: ProtocolVersion): void {
	const v5 = version === 5;
	switch (p.type) {
		case "connect": writeConnect(w, p); break;
		case "connack":
			w.byte(p.sessionPresent ? 1 : 0);
			w.byte(checkRange(p.reasonCode, 0xff));
			if (v5) writeProperties(w, p.properties);
			break;
		case "publish":
			w.string(p.topic);
			if (p.qos > 0) w.u16(checkId(p.id));
			if (v5) writeProperties(w, p.properties);
			w.raw(p.payload);
			break;
		case "puback":
		case "pubrec":
		case "pubrel":
		case "pubcomp":
			writeAck(w, p, v5, true);
			break;
		case "subscribe":
			w.u16(checkId(p.id));
			if (v5) writeProperties(w, p.properties);
			if (!p.subscriptions.length) throw new CodecError("invalid", "SUBSCRIBE needs at least one topic filter");
			for (const s of p.subscriptions) {
				w.string(s.topic);
				let options = checkQoS(s.qos);
				if (v5) options |= (s.noLocal ? 4 : 0) | (s.retainAsPublished ? 8 : 0) | ((s.retainHandling ?? 0) << 4);
				w.byte(options);
			}
			break;
		case "suback":
			w.u16(checkId(p.id));
			if (v5) writeProperties(w, p.properties);
			for (const rc of p.reasonCodes) w.byte(checkRange(rc, 0xff));
			break;
		case "unsubscribe":
			w.u16(checkId(p.id));
			if (v5) writeProperties(w, p.properties);
			if (!p.topics.length) throw new CodecError("invalid", "UNSUBSCRIBE needs at least one topic filter");
			for (const t of p.topics) w.string(t);
			break;
		case "unsuback":
			w.u16(checkId(p.id));
			if (v5) {
				writeProperties(w, p.properties);
				for (const rc of p.reasonCodes ?? []) w.byte(checkRange(rc, 0xff));
			}
			break;
		case "pingreq":
		case "pingresp":
			break;
		case "disconnect":
			writeAck(w, p, v5, false);
			break;
		case "auth":
			if (!v5) throw new CodecError("invalid", "AUTH exists only in MQTT 5.0");
			writeAck(w, p, v5, false);
			break;
	}
}

/** Exact size in bytes of the encoded packet, fixed header included. */
export function packetSize(packet: Packet, version: ProtocolVersion): number {
	const counter = new Writer();
	writeBody(counter, packet, version);
	if (counter.pos > MAX_REMAINING_LENGTH) throw new CodecError("invalid", `packet body of ${counter.pos} bytes exceeds the MQTT maximum`);
	return 1 + varintSize(counter.pos) + counter.pos;
}

/** Encodes a packet. Throws CodecError("invalid") for a packet that cannot be represented. */
export function encode(packet: Packet, version: ProtocolVersion): Uint8Array {
	if (packet.type === "publish" && !(version === 5 && packet.properties)) {
		// PUBLISH without properties: the one-pass encoder, from the topic's UTF-8.
		const qos = checkQoS(packet.qos);
		const topic = utf8Encode(packet.topic);
		if (topic.length > 0xffff) throw new CodecError("invalid", `string of ${topic.length} bytes exceeds 65535`);
		const bytes = encodePublish(mqttString(topic), packet.payload, qos, packet.retain, qos ? checkId(packet.id) : 0, version === 5, Infinity) as Uint8Array;
		if (packet.dup) bytes[0] |= 0x08;
		return bytes;
	}
	const counter = new Writer();
	writeBody(counter, packet, version);
	const remaining = counter.pos;
	if (remaining > MAX_REMAINING_LENGTH) throw new CodecError("invalid", `packet body of ${remaining} bytes exceeds the MQTT maximum`);
	const bytes = new Uint8Array(1 + varintSize(remaining) + remaining);
	const w = new Writer(bytes);
	w.byte((PACKET_TYPE_NUMBER[packet.type] << 4) | fixedHeaderFlags(packet));
	w.varint(remaining);
	writeBody(w, packet, version);
	return bytes;
}

/**
 * Encodes a packet unless it is larger than `limit` bytes: then returns its size and allocates
 * nothing. One sizing pass and one writing pass. Throws CodecError("invalid") as encode() does.
 */
export function encodeWithin(packet: Packet, version: ProtocolVersion, limit: number): Uint8Array | number {
	const counter = new Writer();
	writeBody(counter, packet, version);
	const remaining = counter.pos;
	if (remaining > MAX_REMAINING_LENGTH) throw new CodecError("invalid", `packet body of ${remaining} bytes exceeds the MQTT maximum`);
	const size = 1 + varintSize(remaining) + remaining;
	if (size > limit) return size;
	const bytes = new Uint8Array(size);
	const w = new Writer(bytes);
	w.byte((PACKET_TYPE_NUMBER[packet.type] << 4) | fixedHeaderFlags(packet));
	w.varint(remaining);
	writeBody(w, packet, version);
	return bytes;
}

/** `utf8` as an MQTT string: its length in two bytes, then the bytes (at most 65535: the caller checks). */
export function mqttString(utf8: Uint8Array): Uint8Array {
	const out = new Uint8Array(2 + utf8.length);
	out[0] = utf8.length >> 8;
	out[1] = utf8.length & 0xff;
	out.set(utf8, 2);
	return out;
}

/**
 * The hot path: a PUBLISH without properties from a topic already encoded as an MQTT string
 * (mqttString(); checked by the caller: no wildcard, no U+0000, at most 65535 bytes) and the
 * payload, in one allocation (`allocate`, or a new Uint8Array), with no sizing pass. Returns the
 * packet's size instead when it is larger than `limit` (nothing allocated). Same bytes as encode()
 * of the same packet (MQTT 5.0: a property length of 0); every byte is written.
 */
export function encodePublish(topic: Uint8Array, payload: Uint8Array, qos: QoS, retain: boolean, id: number, v5: boolean, limit: number,
	allocate?: (size: number) => Uint8Array): Uint8Array | number {
	const remaining = topic.length + (qos ? 2 : 0) + (v5 ? 1 : 0) + payload.length;
	// The remaining length: one or two bytes for any packet a device sends, written out.
	let pos = remaining < 128 ? 2 : remaining < 16_384 ? 3 : 1 + varintSize(remaining);
	const size = pos + remaining;
	if (size > limit) return size;
	if (remaining > MAX_REMAINING_LENGTH) throw new CodecError("invalid", `packet body of ${remaining} bytes exceeds the MQTT maximum`);
	const out = allocate === undefined ? new Uint8Array(size) : allocate(size);
	out[0] = 0x30 | (qos << 1) | (retain ? 1 : 0);
	if (pos === 3) {
		out[1] = (remaining & 0x7f) | 0x80;
		out[2] = remaining >> 7;
	}
	else if (pos === 2) out[1] = remaining;
	else {
		let v = remaining;
		let at = 1;
		while (v >= 128) {
			out[at++] = (v & 0x7f) | 0x80;
			v >>>= 7;
		}
		out[at] = v;
	}
	out.set(topic, pos);
	pos += topic.length;
	if (qos) {
		out[pos++] = id >> 8;
		out[pos++] = id & 0xff;
	}
	if (v5) out[pos++] = 0;
	out.set(payload, pos);
	return out;
}

/* ----------------------------------------------------------------------------------------- */
/* Reader over one packet body                                                               */

class Reader {
	pos: number;
	constructor(readonly buf: Uint8Array, readonly end: number, pos = 0) {
		this.pos = pos;
	}
	get remaining(): number {
		return this.end - this.pos;
	}
	need(n: number, what: string): void {
		if (this.pos + n > this.end) throw new CodecError("malformed", `${what} runs past the end of the packet`);
	}
	byte(what = "byte"): number {
		this.need(1, what);
		return this.buf[this.pos++];
	}
	u16(what = "two-byte integer"): number {
		this.need(2, what);
		const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
		this.pos += 2;
		return v;
	}
	/** A packet identifier, which is never 0 (2.3.1). */
	id(): number {
		const v = this.u16("packet identifier");
		if (!v) throw new CodecError("malformed", "packet identifier 0");
		return v;
	}
	u32(what = "four-byte integer"): number {
		this.need(4, what);
		const b = this.buf;
		const v = ((b[this.pos] << 24) >>> 0) + ((b[this.pos + 1] << 16) | (b[this.pos + 2] << 8) | b[this.pos + 3]);
		this.pos += 4;
		return v;
	}
	varint(what = "variable byte integer"): number {
		let value = 0;
		let multiplier = 1;
		for (let i = 0; i < 4; i++) {
			const digit = this.byte(what);
			value += (digit & 0x7f) * multiplier;
			if (!(digit & 0x80)) return value;
			multiplier *= 128;
		}
		throw new CodecError("malformed", `${what} is longer than 4 bytes`);
	}
	string(what = "UTF-8 string"): string {
		const length = this.u16(what);
		this.need(length, what);
		const s = utf8Decode(this.buf, this.pos, this.pos + length);
		if (s === undefined) throw new CodecError("malformed", `${what} is not valid UTF-8`);
		if (s.indexOf("\u0000") >= 0) throw new CodecError("malformed", `${what} contains U+0000`);
		this.pos += length;
		return s;
	}
	binary(what = "binary data"): Uint8Array {
		const length = this.u16(what);
		return this.bytes(length, what);
	}
	bytes(length: number, what: string): Uint8Array {
		this.need(length, what);
		const out = this.buf.slice(this.pos, this.pos + length);
		this.pos += length;
		return out;
	}
	rest(): Uint8Array {
		return this.bytes(this.remaining, "payload");
	}
	done(what: string): void {
		if (this.pos !== this.end) throw new CodecError("malformed", `${what} has ${this.end - this.pos} unexpected trailing bytes`);
	}
}

function readProperties(r: Reader): Properties | undefined {
	const length = r.varint("property length");
	if (!length) return undefined;
	r.need(length, "properties");
	const end = r.pos + length;
	const props: Properties = {};
	const bag = props as Record<string, unknown>;
	while (r.pos < end) {
		const id = r.varint("property identifier");
		const info = PROPERTY_BY_ID[id];
		if (!info) throw new CodecError("malformed", `unknown property identifier 0x${id.toString(16)}`);
		const value = readPropertyValue(r, info.kind, info.name);
		if (info.repeat) ((bag[info.name] ??= []) as unknown[]).push(value);
		else if (bag[info.name] !== undefined) throw new CodecError("malformed", `property ${info.name} appears twice`);
		else bag[info.name] = value;
	}
	if (r.pos !== end) throw new CodecError("malformed", "properties run past their declared length");
	return props;
}

function readPropertyValue(r: Reader, kind: PropertyKind, name: string): unknown {
	switch (kind) {
		case "byte": return r.byte(name);
		case "u16": return r.u16(name);
		case "u32": return r.u32(name);
		case "varint": return r.varint(name);
		case "string": return r.string(name);
		case "binary": return r.binary(name);
		case "pair": return [r.string(name), r.string(name)];
	}
}

function readQoS(bits: number, what: string): QoS {
	if (bits === 3) throw new CodecError("malformed", `${what} has QoS 3`);
	return bits as QoS;
}

function readConnect(r: Reader): ConnectPacket {
	const name = r.string("protocol name");
	const level = r.byte("protocol level");
	if (name !== "MQTT" || (level !== 4 && level !== 5))
		throw new CodecError("malformed", `unsupported protocol ${name} level ${level}`);
	const v5 = level === 5;
	const flags = r.byte("connect flags");
	if (flags & 1) throw new CodecError("malformed", "CONNECT reserved flag is set");
	const packet: ConnectPacket = {
		type: "connect",
		protocolVersion: level,
		cleanStart: !!(flags & 2),
		keepAlive: r.u16("keep alive"),
		clientId: "",
	};
	if (v5) setProperties(packet, readProperties(r));
	packet.clientId = r.string("client identifier");
	if (flags & 4) {
		const will: Will = { topic: "", payload: new Uint8Array(0), qos: readQoS((flags >> 3) & 3, "will"), retain: !!(flags & 0x20) };
		if (v5) setProperties(will, readProperties(r));
		will.topic = r.string("will topic");
		will.payload = r.binary("will payload");
		packet.will = will;
	}
	else if (flags & 0x38) throw new CodecError("malformed", "CONNECT has will QoS/retain without a will");
	if (flags & 0x80) packet.username = r.string("user name");
	if (flags & 0x40) packet.password = r.binary("password");
	r.done("CONNECT");
	return packet;
}

function setProperties(target: { properties?: Properties }, props: Properties | undefined): void {
	if (props) target.properties = props;
}

function readAck(type: AckPacket["type"], r: Reader, v5: boolean): AckPacket {
	const packet: AckPacket = { type, id: r.id() };
	if (v5 && r.remaining > 0) {
		packet.reasonCode = r.byte("reason code");
		if (r.remaining > 0) setProperties(packet, readProperties(r));
	}
	r.done(type.toUpperCase());
	return packet;
}

function readReasonOnly(type: "disconnect" | "auth", r: Reader, v5: boolean): DisconnectPacket | AuthPacket {
	const packet: DisconnectPacket | AuthPacket = { type };
	if (v5 && r.remaining > 0) {
		packet.reasonCode = r.byte("reason code");
		if (r.remaining > 0) setProperties(packet, readProperties(r));
	}
	r.done(type.toUpperCase());
	return packet;
}

function readPublish(r: Reader, flags: number, v5: boolean): PublishPacket {
	const qos = readQoS((flags >> 1) & 3, "PUBLISH");
	const packet: PublishPacket = {
		type: "publish",
		topic: r.string("topic name"),
		payload: new Uint8Array(0),
		qos,
		retain: !!(flags & 1),
		dup: !!(flags & 8),
	};
	if (qos > 0) {
		packet.id = r.u16("packet identifier");
		if (!packet.id) throw new CodecError("malformed", "PUBLISH has packet identifier 0");
	}
	if (v5) setProperties(packet, readProperties(r));
	packet.payload = r.rest();
	return packet;
}

function readSubscribe(r: Reader, v5: boolean): SubscribePacket {
	const packet: SubscribePacket = { type: "subscribe", id: r.id(), subscriptions: [] };
	if (v5) setProperties(packet, readProperties(r));
	while (r.remaining > 0) {
		const topic = r.string("topic filter");
		const options = r.byte("subscription options");
		if (options & (v5 ? 0xc0 : 0xfc)) throw new CodecError("malformed", "subscription options reserved bits are set");
		const s: Subscription = { topic, qos: readQoS(options & 3, "subscription") };
		if (v5) {
			const rh = (options >> 4) & 3;
			if (rh === 3) throw new CodecError("malformed", "retain handling 3 is reserved");
			s.noLocal = !!(options & 4);
			s.retainAsPublished = !!(options & 8);
			s.retainHandling = rh as 0 | 1 | 2;
		}
		packet.subscriptions.push(s);
	}
	if (!packet.subscriptions.length) throw new CodecError("malformed", "SUBSCRIBE has no topic filter");
	return packet;
}

function readIdAndList<T>(r: Reader, v5: boolean, item: () => T): { id: number; properties?: Properties; list: T[] } {
	const out: { id: number; properties?: Properties; list: T[] } = { id: r.id(), list: [] };
	if (v5) setProperties(out, readProperties(r));
	while (r.remaining > 0) out.list.push(item());
	return out;
}

/**
 * The checks decodeBody() makes of the fixed header, for a packet that is not buffered: the flags
 * are fixed for every type but PUBLISH (2.1.3); PUBLISH may not have QoS 3.
 */
function checkFlags(type: PacketType, flags: number): void {
	if (type === "publish") {
		readQoS((flags >> 1) & 3, "PUBLISH");
		return;
	}
	const expected = type === "pubrel" || type === "subscribe" || type === "unsubscribe" ? 2 : 0;
	if (flags !== expected) throw new CodecError("malformed", `${type.toUpperCase()} has fixed header flags ${flags}, expected ${expected}`);
}

function decodeBody(type: PacketType, flags: number, r: Reader, version: ProtocolVersion): Packet {
	const v5 = version === 5;
	const expected = type === "pubrel" || type === "subscribe" || type === "unsubscribe" ? 2 : 0;
	if (type !== "publish" && flags !== expected)
		throw new CodecError("malformed", `${type.toUpperCase()} has fixed header flags ${flags}, expected ${expected}`);
	switch (type) {
		case "connect": return readConnect(r);
		case "connack": {
			const ackFlags = r.byte("acknowledge flags");
			if (ackFlags & 0xfe) throw new CodecError("malformed", "CONNACK reserved flags are set");
			const packet: ConnackPacket = { type, sessionPresent: !!(ackFlags & 1), reasonCode: r.byte("return code") };
			if (v5 && r.remaining > 0) setProperties(packet, readProperties(r));
			r.done("CONNACK");
			return packet;
		}
		case "publish": return readPublish(r, flags, v5);
		case "puback":
		case "pubrec":
		case "pubrel":
		case "pubcomp":
			return readAck(type, r, v5);
		case "subscribe": return readSubscribe(r, v5);
		case "suback": {
			const { id, properties, list } = readIdAndList(r, v5, () => r.byte("reason code"));
			if (!list.length) throw new CodecError("malformed", "SUBACK has no return code");
			const packet: SubackPacket = { type, id, reasonCodes: list };
			setProperties(packet, properties);
			return packet;
		}
		case "unsubscribe": {
			const { id, properties, list } = readIdAndList(r, v5, () => r.string("topic filter"));
			if (!list.length) throw new CodecError("malformed", "UNSUBSCRIBE has no topic filter");
			const packet: UnsubscribePacket = { type, id, topics: list };
			setProperties(packet, properties);
			return packet;
		}
		case "unsuback": {
			if (!v5) {
				const packet: UnsubackPacket = { type, id: r.id() };
				r.done("UNSUBACK");
				return packet;
			}
			const { id, properties, list } = readIdAndList(r, v5, () => r.byte("reason code"));
			const packet: UnsubackPacket = { type, id, reasonCodes: list };
			setProperties(packet, properties);
			return packet;
		}
		case "pingreq":
		case "pingresp":
			r.done(type.toUpperCase());
			return { type };
		case "disconnect":
			return readReasonOnly(type, r, v5);
		case "auth":
			if (!v5) throw new CodecError("malformed", "AUTH exists only in MQTT 5.0");
			return readReasonOnly(type, r, v5);
	}
}

/** Decodes exactly one complete packet from `bytes` (convenience for tests and tools). */
export function decodePacket(bytes: Uint8Array, version: ProtocolVersion): Packet {
	let result: Packet | undefined;
	let failure: CodecError | undefined;
	const decoder = new Decoder({
		maxPacketSize: Math.max(bytes.length, 5),
		protocolVersion: version,
		onPacket: (p) => { result ??= p; },
		onError: (e) => { failure = e; },
		onOversize: () => {},
	});
	decoder.push(bytes);
	if (failure) throw failure;
	if (!result || decoder.pending) throw new CodecError("malformed", "incomplete packet");
	return result;
}

/* ----------------------------------------------------------------------------------------- */
/* Incremental decoder                                                                       */

/** What is known of a packet too large to buffer: its type, its size and, for PUBLISH, its head. */
export interface OversizeInfo {
	type: PacketType;
	/** Total size in bytes, fixed header included. */
	size: number;
	topic?: string;
	qos?: QoS;
	id?: number;
}

export interface DecoderOptions {
	/** Largest packet (fixed header included) that is buffered and decoded. */
	maxPacketSize: number;
	protocolVersion: ProtocolVersion;
	onPacket(packet: Packet): void;
	onOversize(info: OversizeInfo): void;
	onError(error: CodecError): void;
}

const HEADER = 0;
const LENGTH = 1;
const BODY = 2;
const SKIP = 3;
const FAILED = 4;

export class Decoder {
	#options: DecoderOptions;
	#buffer: Uint8Array;
	#state = HEADER;
	#first = 0;
	#remaining = 0;
	#multiplier = 1;
	#lengthBytes = 0;
	#filled = 0;
	#skipped = 0;
	#resets = 0;
	protocolVersion: ProtocolVersion;

	constructor(options: DecoderOptions) {
		if (!(options.maxPacketSize >= 2)) throw new RangeError("maxPacketSize must be at least 2");
		this.#options = options;
		this.protocolVersion = options.protocolVersion;
		// The body never exceeds maxPacketSize - 2 (one type byte, at least one length byte).
		this.#buffer = new Uint8Array(options.maxPacketSize - 2);
	}

	/** True when part of a packet has been received and more is awaited. */
	get pending(): boolean {
		return this.#state !== HEADER && this.#state !== FAILED;
	}

	get failed(): boolean {
		return this.#state === FAILED;
	}

	/** Forgets any partial packet and a past failure (for a new connection); a push() in progress stops. */
	reset(protocolVersion = this.protocolVersion): void {
		this.protocolVersion = protocolVersion;
		this.#state = HEADER;
		this.#resets++;
	}

	push(chunk: Uint8Array): void {
		let i = 0;
		const n = chunk.length;
		const resets = this.#resets;
		while (i < n && this.#state !== FAILED && resets === this.#resets) {
			switch (this.#state) {
				case HEADER: {
					// An acknowledgement of two bytes (the common case: PUBACK, PUBREC, PUBREL, PUBCOMP
					// without reason code) whole in the chunk: decoded in place, no copy. Same packet
					// and same checks as the general path.
					const first = chunk[i];
					if (i + 3 < n && chunk[i + 1] === 2 && this.#options.maxPacketSize >= 4 && (first === 0x40 || first === 0x50 || first === 0x62 || first === 0x70)) {
						const id = (chunk[i + 2] << 8) | chunk[i + 3];
						i += 4;
						if (!id) {
							this.#fail(new CodecError("malformed", "packet identifier 0"));
							break;
						}
						this.#options.onPacket({ type: PACKET_TYPE_NAME[first >> 4] as AckPacket["type"], id });
						break;
					}
					this.#first = chunk[i++];
					if (!PACKET_TYPE_NAME[this.#first >> 4]) {
						this.#fail(new CodecError("malformed", `reserved packet type 0 (first byte 0x${hex(this.#first)})`));
						break;
					}
					this.#state = LENGTH;
					this.#remaining = 0;
					this.#multiplier = 1;
					this.#lengthBytes = 0;
					break;
				}
				case LENGTH: {
					const digit = chunk[i++];
					this.#remaining += (digit & 0x7f) * this.#multiplier;
					this.#multiplier *= 128;
					this.#lengthBytes++;
					if (digit & 0x80) {
						if (this.#lengthBytes === 4) this.#fail(new CodecError("malformed", "remaining length is longer than 4 bytes"));
						break;
					}
					this.#filled = 0;
					this.#skipped = 0;
					if (1 + this.#lengthBytes + this.#remaining > this.#options.maxPacketSize) this.#state = SKIP;
					else this.#state = BODY;
					if (this.#remaining === 0) this.#complete();
					break;
				}
				case BODY: {
					const take = Math.min(this.#remaining - this.#filled, n - i);
					this.#buffer.set(chunk.subarray(i, i + take), this.#filled);
					this.#filled += take;
					i += take;
					if (this.#filled === this.#remaining) this.#complete();
					break;
				}
				case SKIP: {
					const take = Math.min(this.#remaining - this.#skipped, n - i);
					// Keep the head of the packet (as much as the buffer holds) to name what was dropped.
					const keep = Math.min(take, this.#buffer.length - this.#filled);
					if (keep > 0) {
						this.#buffer.set(chunk.subarray(i, i + keep), this.#filled);
						this.#filled += keep;
					}
					this.#skipped += take;
					i += take;
					if (this.#skipped === this.#remaining) this.#complete();
					break;
				}
			}
		}
	}

	#complete(): void {
		const typeNumber = this.#first >> 4;
		const type = PACKET_TYPE_NAME[typeNumber] as PacketType;
		const flags = this.#first & 0x0f;
		const wasSkipping = this.#state === SKIP;
		this.#state = HEADER;
		if (wasSkipping) {
			this.#completeOversize(type, flags);
			return;
		}
		let packet: Packet;
		try {
			packet = decodeBody(type, flags, new Reader(this.#buffer, this.#remaining), this.protocolVersion);
		}
		catch (e) {
			this.#fail(e instanceof CodecError ? e : new CodecError("malformed", `${type.toUpperCase()}: ${String(e)}`));
			return;
		}
		this.#options.onPacket(packet);
	}

	/** An oversize packet gets the checks any packet gets, on what is known of it. */
	#completeOversize(type: PacketType, flags: number): void {
		let info: OversizeInfo;
		try {
			info = this.#oversizeInfo(type, flags);
		}
		catch (e) {
			this.#fail(e instanceof CodecError ? e : new CodecError("malformed", `${type.toUpperCase()}: ${String(e)}`));
			return;
		}
		this.#options.onOversize(info);
	}

	/**
	 * What is known of a packet too large to buffer: its type and size and, for a PUBLISH, the head
	 * kept in the buffer (topic, QoS, packet identifier). Throws CodecError("malformed") for what
	 * would make the packet malformed had it been buffered: fixed header flags, QoS 3, a topic that
	 * is not UTF-8, packet identifier 0. A field that runs past the part kept is left out.
	 */
	#oversizeInfo(type: PacketType, flags: number): OversizeInfo {
		checkFlags(type, flags);
		const info: OversizeInfo = { type, size: 1 + this.#lengthBytes + this.#remaining };
		if (type !== "publish") return info;
		const qos = ((flags >> 1) & 3) as QoS;
		info.qos = qos;
		const kept = this.#filled;
		const r = new Reader(this.#buffer, kept);
		if (kept < 2) return info;
		const topicEnd = 2 + ((this.#buffer[0] << 8) | this.#buffer[1]);
		if (topicEnd > this.#remaining) throw new CodecError("malformed", "topic name runs past the end of the packet");
		if (topicEnd > kept) return info;
		info.topic = r.string("topic name");
		if (qos === 0) return info;
		if (topicEnd + 2 > this.#remaining) throw new CodecError("malformed", "packet identifier runs past the end of the packet");
		if (topicEnd + 2 > kept) return info;
		info.id = r.id();
		return info;
	}

	#fail(error: CodecError): void {
		this.#state = FAILED;
		this.#options.onError(error);
	}
}

function hex(n: number): string {
	return (n < 16 ? "0" : "") + n.toString(16);
}

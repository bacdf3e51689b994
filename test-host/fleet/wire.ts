/*
 * The fleet's view of each device's wire: the host TCP transport (nodeTcp), wrapped to
 * - count PUBLISH packets each way and time each QoS 1 PUBLISH to its PUBACK, by reading the MQTT
 *   framing of the bytes that pass (fixed header, remaining length, the packet identifier);
 * - drop the connection on demand (the drop-all fault): the socket is destroyed without a goodbye
 *   and the device hears "connection reset", as when a NAT or a load balancer forgets it.
 * The device's client is not touched: what it sees is what a real network would show it.
 */

import type { Transport, TransportEvents, TransportFactory, TransportOptions } from "mqttclient/transport";
import { nodeTcp } from "../adapters/tcp";

const PUBLISH = 3;
const PUBACK = 4;
/** Bytes of a PUBLISH body looked at: topic length, topic (up to 252 bytes), packet identifier. */
const PUBLISH_PREFIX = 256;
const EMPTY = new Uint8Array(0);

/**
 * Splits a byte stream into MQTT packets without buffering them: for each packet it reports the
 * type, the flags and the first bytes of its body (at most `want(type)`; a view when the chunk
 * holds them, a small copy when they straddle chunks).
 */
export class Framer {
	#state = 0; // 0: fixed header byte, 1: remaining length, 2: body
	#type = 0;
	#flags = 0;
	#length = 0;
	#multiplier = 1;
	#left = 0;
	#prefix: Uint8Array | undefined;
	#filled = 0;
	readonly #want: (type: number) => number;
	readonly #onPacket: (type: number, flags: number, prefix: Uint8Array) => void;

	constructor(want: (type: number) => number, onPacket: (type: number, flags: number, prefix: Uint8Array) => void) {
		this.#want = want;
		this.#onPacket = onPacket;
	}

	push(bytes: Uint8Array): void {
		let i = 0;
		const n = bytes.length;
		while (i < n) {
			if (this.#state === 0) {
				const b = bytes[i++];
				this.#type = b >> 4;
				this.#flags = b & 15;
				this.#length = 0;
				this.#multiplier = 1;
				this.#state = 1;
			}
			else if (this.#state === 1) {
				const b = bytes[i++];
				this.#length += (b & 127) * this.#multiplier;
				this.#multiplier *= 128;
				if (b & 128) continue;
				this.#left = this.#length;
				const want = Math.min(this.#want(this.#type), this.#length);
				if (want === 0) {
					this.#onPacket(this.#type, this.#flags, EMPTY);
					this.#state = this.#left > 0 ? 2 : 0;
				}
				else if (n - i >= want) {
					this.#onPacket(this.#type, this.#flags, bytes.subarray(i, i + want));
					this.#state = 2;
				}
				else {
					this.#prefix = new Uint8Array(want);
					this.#filled = 0;
					this.#state = 2;
				}
			}
			else {
				const prefix = this.#prefix;
				if (prefix) {
					const take = Math.min(prefix.length - this.#filled, n - i);
					prefix.set(bytes.subarray(i, i + take), this.#filled);
					this.#filled += take;
					i += take;
					this.#left -= take;
					if (this.#filled === prefix.length) {
						this.#prefix = undefined;
						this.#onPacket(this.#type, this.#flags, prefix);
					}
				}
				else {
					const skip = Math.min(this.#left, n - i);
					i += skip;
					this.#left -= skip;
				}
				if (this.#left === 0) this.#state = 0;
			}
		}
	}
}

export interface WireCounters {
	published(qos: number): void;
	acked(latencyMs: number): void;
	received(): void;
}

/** An open connection the fleet can drop. */
export interface Droppable {
	drop(reason: string): void;
}

const wantOutgoing = (type: number): number => (type === PUBLISH ? PUBLISH_PREFIX : 0);
const wantIncoming = (type: number): number => (type === PUBACK ? 2 : 0);

/**
 * A TransportFactory for one device: nodeTcp, watched. Open connections are kept in `open` (shared
 * by the fleet) so a fault can drop them all.
 */
export function watchedTcp(counters: WireCounters, open: Set<Droppable>, now: () => number = () => performance.now()): TransportFactory {
	return (options: TransportOptions, events: TransportEvents): Transport => {
		// QoS 1 PUBLISH packets awaiting PUBACK: [packet id, time sent] pairs (the window is small).
		const inflight: number[] = [];
		let closed = false;
		const outgoing = new Framer(wantOutgoing, (type, flags, body) => {
			if (type !== PUBLISH) return;
			const qos = (flags >> 1) & 3;
			counters.published(qos);
			if (qos === 0 || body.length < 2) return;
			const at = 2 + ((body[0] << 8) | body[1]);
			if (body.length < at + 2) return;
			const id = (body[at] << 8) | body[at + 1];
			// A resent packet (DUP) keeps its first time.
			for (let k = 0; k < inflight.length; k += 2) if (inflight[k] === id) return;
			inflight.push(id, now());
		});
		const incoming = new Framer(wantIncoming, (type, _flags, body) => {
			if (type === PUBLISH) counters.received();
			if (type !== PUBACK || body.length < 2) return;
			const id = (body[0] << 8) | body[1];
			for (let k = 0; k < inflight.length; k += 2) {
				if (inflight[k] !== id) continue;
				counters.acked(now() - inflight[k + 1]);
				inflight.splice(k, 2);
				return;
			}
		});
		const connection: Droppable = {
			drop(reason) {
				if (closed) return;
				closed = true;
				open.delete(connection);
				inner.close();
				events.onClose({ code: "reset", message: reason });
			},
		};
		const inner = nodeTcp(options, {
			onConnect: () => events.onConnect(),
			onData: (bytes) => {
				incoming.push(bytes);
				events.onData(bytes);
			},
			onWritable: () => events.onWritable(),
			onClose: (error) => {
				closed = true;
				open.delete(connection);
				events.onClose(error);
			},
		});
		open.add(connection);
		return {
			get writable() {
				return inner.writable;
			},
			write(bytes: Uint8Array) {
				outgoing.push(bytes);
				inner.write(bytes);
			},
			close() {
				closed = true;
				open.delete(connection);
				inner.close();
			},
		};
	};
}

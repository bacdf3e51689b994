/*
 * Helpers for the MQTT interoperation tests over real TCP (mqtt-interop-*.test.ts):
 *
 * - TestClient: our MQTTClient on nodeTcp and a RealClock, every callback recorded, with
 *   promises to wait for what the tests expect (connected(), closed(), message(), ...).
 * - tapTransport(): wraps a TransportFactory and decodes both directions with mqtt-packet (an
 *   independent parser), timestamped, to see what our client really put on the wire and when.
 * - Peer: MQTT.js as the independent subscriber / publisher, its messages recorded.
 * - Servers for transport faults: a free (closed) port, a TCP server that never answers, and a
 *   proxy that can stall (stop forwarding both ways without closing: a half-open connection).
 */

import net from "node:net";
import mqtt from "mqtt";
import type { IClientOptions, IClientPublishOptions, MqttClient } from "mqtt";
import { parser as packetParser } from "mqtt-packet";
import type { Packet as WirePacket } from "mqtt-packet";
import { MQTTClient } from "mqttclient";
import type { CloseInfo, ConnectInfo, ConnectOptions, Diagnostic, Message, MQTTClientOptions, Outcome, PublishOptions, Subscription } from "mqttclient";
import type { Transport, TransportFactory } from "mqttclient/transport";
import { RealClock } from "../../adapters/clock";
import { nodeTcp } from "../../adapters/tcp";

export const HOST = "127.0.0.1";
const DEFAULT_WAIT_MS = 5000;

export function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with get()'s first defined value, re-checked by poke() and every 20 ms; rejects after `ms`. */
class Waiters {
	readonly #pending = new Set<() => void>();

	poke(): void {
		for (const check of [...this.#pending]) check();
	}

	until<T>(get: () => T | undefined, ms: number, what: string): Promise<T> {
		return new Promise<T>((resolve, reject) => {
			const done = () => {
				this.#pending.delete(check);
				clearTimeout(timer);
				clearInterval(poll);
			};
			const check = () => {
				let value: T | undefined;
				try {
					value = get();
				}
				catch (e) {
					done();
					reject(e instanceof Error ? e : new Error(String(e)));
					return;
				}
				if (value === undefined) return;
				done();
				resolve(value);
			};
			const timer = setTimeout(() => {
				done();
				reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
			}, ms);
			const poll = setInterval(check, 20);
			this.#pending.add(check);
			check();
		});
	}
}

export function describeDiagnostic(d: Diagnostic): string {
	const rc = d.reasonCode !== undefined ? ` rc=0x${d.reasonCode.toString(16)}` : "";
	return `${d.code}${rc} state=${d.state}: ${d.message}${d.fix ? ` (fix: ${d.fix})` : ""}`;
}

export interface TestClientOptions extends Partial<MQTTClientOptions> {
	/** Host used by connect() unless given. Default 127.0.0.1. */
	host?: string;
}

/** Our MQTTClient with every callback recorded. */
export class TestClient {
	readonly mqtt: MQTTClient;
	readonly clock: RealClock;
	readonly host: string;
	readonly connects: ConnectInfo[] = [];
	readonly closes: CloseInfo[] = [];
	readonly messages: Message[] = [];
	readonly delivered: { id: number; reasonCode: number }[] = [];
	readonly warnings: Diagnostic[] = [];
	readonly subacks: { id: number; reasonCodes: number[] }[] = [];
	/** Called for each message after it is recorded; its result is what onMessage returns (QoS 1/2 ack after it settles). */
	handler: ((message: Message) => void | PromiseLike<unknown>) | undefined;
	readonly #waiters = new Waiters();
	#connectsAt = 0;
	#closesAt = 0;

	constructor(options: TestClientOptions = {}) {
		const { host, ...rest } = options;
		this.host = host ?? HOST;
		this.clock = new RealClock();
		const poke = () => this.#waiters.poke();
		this.mqtt = new MQTTClient({
			transport: nodeTcp,
			clock: this.clock,
			...rest,
			onConnect: (info) => {
				this.connects.push(info);
				poke();
			},
			onClose: (info) => {
				this.closes.push(info);
				poke();
			},
			onMessage: (message) => {
				this.messages.push(message);
				poke();
				return this.handler?.(message);
			},
			onDelivered: (id, reasonCode) => {
				this.delivered.push({ id, reasonCode });
				poke();
			},
			onWarning: (warning) => {
				this.warnings.push(warning);
				poke();
			},
			onSubscribed: (id, reasonCodes) => {
				this.subacks.push({ id, reasonCodes });
				poke();
			},
		});
	}

	get isConnected(): boolean {
		return this.mqtt.connected;
	}

	/** Drops the connection without DISCONNECT (the broker publishes the will). */
	close(): void {
		this.mqtt.close();
	}

	/** Starts connecting (host defaults to the client's); later connected() / closed() refer to this attempt. */
	connect(options: Omit<ConnectOptions, "host"> & { host?: string }): Outcome {
		this.#connectsAt = this.connects.length;
		this.#closesAt = this.closes.length;
		return this.mqtt.connect({ host: this.host, ...options });
	}

	/** The CONNACK-accepted info of the last connect(); rejects with the diagnostic when it closed instead. */
	connected(ms = DEFAULT_WAIT_MS): Promise<ConnectInfo> {
		return this.#waiters.until(() => {
			if (this.connects.length > this.#connectsAt) return this.connects[this.#connectsAt];
			if (this.closes.length > this.#closesAt) throw new Error(`closed instead of connecting: ${describeDiagnostic(this.closes[this.#closesAt])}`);
			return undefined;
		}, ms, "CONNACK");
	}

	/** connect() then connected(); throws when connect() refused synchronously. */
	async open(options: Omit<ConnectOptions, "host"> & { host?: string }, ms = DEFAULT_WAIT_MS): Promise<ConnectInfo> {
		const outcome = this.connect(options);
		if (!outcome.ok) throw new Error(`connect() refused: ${describeDiagnostic(outcome.error)}`);
		return this.connected(ms);
	}

	/** The close that ended the last connect() attempt (or its connection). */
	closed(ms = DEFAULT_WAIT_MS): Promise<CloseInfo> {
		return this.#waiters.until(() => this.closes[this.#closesAt], ms, "onClose");
	}

	until<T>(get: () => T | undefined, ms = DEFAULT_WAIT_MS, what = "a condition"): Promise<T> {
		return this.#waiters.until(get, ms, what);
	}

	/** The first recorded message matching `match`. */
	message(match: (m: Message) => boolean, ms = DEFAULT_WAIT_MS): Promise<Message> {
		return this.until(() => this.messages.find(match), ms, "a message");
	}

	warning(code: string, ms = DEFAULT_WAIT_MS): Promise<Diagnostic> {
		return this.until(() => this.warnings.find((w) => w.code === code), ms, `warning ${code}`);
	}

	/** Subscribes and resolves with the SUBACK reason codes. */
	async subscribe(subscriptions: Subscription | Subscription[], ms = DEFAULT_WAIT_MS): Promise<number[]> {
		const outcome = this.mqtt.subscribe(subscriptions);
		if (!outcome.ok) throw new Error(`subscribe() refused: ${describeDiagnostic(outcome.error)}`);
		const suback = await this.until(() => this.subacks.find((s) => s.id === outcome.id), ms, "SUBACK");
		return suback.reasonCodes;
	}

	/** Publishes; throws when refused. */
	publish(topic: string, payload: string | Uint8Array, options: PublishOptions = {}): Extract<Outcome, { ok: true }> {
		const outcome = this.mqtt.publish(topic, payload, options);
		if (!outcome.ok) throw new Error(`publish() refused: ${describeDiagnostic(outcome.error)}`);
		return outcome;
	}

	/** Publishes with QoS 1 or 2 and resolves with the reason code of onDelivered. */
	async publishAcked(topic: string, payload: string | Uint8Array, options: PublishOptions & { qos: 1 | 2 }, ms = DEFAULT_WAIT_MS): Promise<number> {
		const { id } = this.publish(topic, payload, options);
		const d = await this.until(() => this.delivered.find((x) => x.id === id), ms, `onDelivered(${id})`);
		return d.reasonCode;
	}

	/** Drops the connection (if any) and the clock's timers. */
	dispose(): void {
		this.mqtt.close();
		this.clock.dispose();
	}
}

/* Wire tap ------------------------------------------------------------------------------- */

export interface WireRecord {
	dir: "out" | "in";
	packet: WirePacket;
	/** performance.now() when the bytes completing it were written / received. */
	at: number;
}

/** Wraps `factory` and decodes what goes through it with mqtt-packet. */
export function tapTransport(protocolVersion: 4 | 5, factory: TransportFactory = nodeTcp): { factory: TransportFactory; packets: WireRecord[] } {
	const packets: WireRecord[] = [];
	const tapped: TransportFactory = (options, events) => {
		const out = packetParser({ protocolVersion });
		const inbound = packetParser({ protocolVersion });
		out.on("packet", (packet) => packets.push({ dir: "out", packet, at: performance.now() }));
		inbound.on("packet", (packet) => packets.push({ dir: "in", packet, at: performance.now() }));
		out.on("error", () => {});
		inbound.on("error", () => {});
		const inner: Transport = factory(options, {
			...events,
			onData: (bytes) => {
				inbound.parse(Buffer.from(bytes));
				events.onData(bytes);
			},
		});
		return {
			get writable() {
				return inner.writable;
			},
			write(bytes) {
				out.parse(Buffer.from(bytes));
				inner.write(bytes);
			},
			close() {
				inner.close();
			},
		};
	};
	return { factory: tapped, packets };
}

/* MQTT.js peer --------------------------------------------------------------------------- */

export interface PeerMessage {
	topic: string;
	payload: Buffer;
	qos: number;
	retain: boolean;
	dup: boolean;
}

/** MQTT.js as the independent peer. */
export class Peer {
	readonly client: MqttClient;
	readonly messages: PeerMessage[] = [];
	readonly #waiters = new Waiters();

	private constructor(client: MqttClient) {
		this.client = client;
		client.on("message", (topic, payload, packet) => {
			this.messages.push({ topic, payload, qos: packet.qos, retain: packet.retain, dup: packet.dup });
			this.#waiters.poke();
		});
	}

	static async connect(url: string, options: IClientOptions): Promise<Peer> {
		const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
		return new Peer(client);
	}

	async subscribe(topic: string, qos: 0 | 1 | 2 = 1): Promise<void> {
		const granted = await this.client.subscribeAsync(topic, { qos });
		const code = granted[0]?.qos;
		if (code === undefined || code >= 0x80) throw new Error(`MQTT.js subscribe to ${topic} refused: ${String(code)}`);
	}

	async publish(topic: string, payload: string | Buffer, options: IClientPublishOptions = {}): Promise<void> {
		await this.client.publishAsync(topic, payload, options);
	}

	message(match: (m: PeerMessage) => boolean, ms = DEFAULT_WAIT_MS): Promise<PeerMessage> {
		return this.#waiters.until(() => this.messages.find(match), ms, "a message at the MQTT.js peer");
	}

	async end(): Promise<void> {
		await this.client.endAsync(true);
	}
}

/* Servers for transport faults ----------------------------------------------------------- */

/** A loopback port nothing listens on (bound, then released). */
export function closedPort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once("error", reject);
		server.listen(0, HOST, () => {
			const { port } = server.address() as net.AddressInfo;
			server.close(() => resolve(port));
		});
	});
}

async function listen(server: net.Server): Promise<number> {
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, HOST, () => resolve());
	});
	return (server.address() as net.AddressInfo).port;
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
	for (const s of sockets) s.destroy();
	return new Promise((resolve) => server.close(() => resolve()));
}

/** Accepts TCP connections and never sends a byte. */
export async function silentServer(): Promise<{ port: number; accepted: () => number; close(): Promise<void> }> {
	const sockets = new Set<net.Socket>();
	let accepted = 0;
	const server = net.createServer((socket) => {
		accepted++;
		sockets.add(socket);
		socket.on("error", () => {});
		socket.on("close", () => sockets.delete(socket));
	});
	const port = await listen(server);
	return { port, accepted: () => accepted, close: () => closeServer(server, sockets) };
}

/**
 * A TCP proxy to 127.0.0.1:targetPort. stall() makes it stop forwarding in both directions
 * while keeping both sockets open: neither end sees a FIN or RST (a half-open path, as when a NAT
 * forgets the mapping or WiFi drops without the peer knowing). A close from one side is not passed
 * on once stalled.
 */
export class StallingProxy {
	readonly port: number;
	readonly #server: net.Server;
	readonly #sockets: Set<net.Socket>;
	#stalled = false;
	/** Bytes dropped while stalled: [to the broker, to the client]. */
	readonly dropped = { toBroker: 0, toClient: 0 };

	private constructor(server: net.Server, sockets: Set<net.Socket>, port: number) {
		this.#server = server;
		this.#sockets = sockets;
		this.port = port;
	}

	static async start(targetPort: number): Promise<StallingProxy> {
		const sockets = new Set<net.Socket>();
		let proxy: StallingProxy | undefined;
		const server = net.createServer((client) => {
			const upstream = net.connect({ host: HOST, port: targetPort });
			for (const s of [client, upstream]) {
				sockets.add(s);
				s.on("error", () => {});
				s.on("close", () => sockets.delete(s));
			}
			client.on("data", (chunk: Buffer) => {
				if (proxy?.stalled) proxy.dropped.toBroker += chunk.length;
				else upstream.write(chunk);
			});
			upstream.on("data", (chunk: Buffer) => {
				if (proxy?.stalled) proxy.dropped.toClient += chunk.length;
				else client.write(chunk);
			});
			client.on("close", () => { if (!proxy?.stalled) upstream.destroy(); });
			upstream.on("close", () => { if (!proxy?.stalled) client.destroy(); });
		});
		const port = await listen(server);
		proxy = new StallingProxy(server, sockets, port);
		return proxy;
	}

	get stalled(): boolean {
		return this.#stalled;
	}

	stall(): void {
		this.#stalled = true;
	}

	close(): Promise<void> {
		return closeServer(this.#server, this.#sockets);
	}
}

/*
 * TCP port (the MQTT client's TransportFactory) over Moddable's classic `socket` (Socket) and
 * `securesocket` (SecureSocket) modules.
 *
 * - Nothing happens inside the factory call: the connection starts on the next turn, so events
 *   never arrive from inside it.
 * - A host name is resolved first with Net.resolve, so a name that does not resolve is reported as
 *   "dns" rather than as a generic socket error; the socket then connects to the address (for TLS
 *   the host name still goes to the server as SNI).
 * - Socket callback messages: 1 connected (for TLS: after the handshake), 2 readable (value: bytes
 *   in the current chunk, read inside the callback with read(ArrayBuffer)), 3 writable (the data
 *   written so far was acknowledged), -1 closed by the peer, -2 error.
 * - `writable` is what write() with no arguments reports (the free TCP send buffer; for TLS that
 *   minus 128 bytes for the record overhead). Writing more throws "can't write all data" and sends
 *   nothing, which is why the MQTT client never writes more than `writable`.
 *   The client asks only when the room it counted down since the last answer is too short; under
 *   TLS a write may use up to 128 bytes more than its length, which `writeOverhead` tells it.
 *
 * Limitation: Moddable reports errors without a reason. Before the connection is up a -2 can be a
 * refusal, an unreachable host or a timeout; it is reported as "refused". With TLS the adapter
 * watches the inner TCP socket, so an error after the TCP connection and before the handshake
 * completed is reported as "tls" (certificate not trusted, name mismatch, alert, no common cipher);
 * if an SDK's SecureSocket does not expose its TCP socket, such failures show as "refused" too.
 * After the connection is up, -1 is "closed" and -2 is "io".
 *
 * TLS comes from a `TlsSockets` (src/adapters/tls.ts: SecureSocket) passed in by the board; a board
 * without one (the Linux target) refuses mqtts:// with a "tls" failure that says so.
 *
 * Ports of the SDK differ; what works on all of them:
 * - The dictionary names the peer with `host` (an IP address or a name). The Linux port accepts only
 *   `host`; lwIP accepts both.
 * - A socket is never closed from inside its own -1/-2 callback: the Linux port has already freed it
 *   when the callback returns, and a close() there frees it twice. The close is deferred by a turn
 *   (on Linux it then throws "close on closed socket", which is expected and ignored).
 * - On Linux a refused connection is reported as "connected", and the first write throws: that is
 *   reported as an io failure.
 */

import type { TransportErrorCode } from "mqttclient/diagnostics";
import type { Transport, TransportEvents, TransportFactory, TransportOptions } from "mqttclient/transport";
import Net from "net";
import { Socket } from "socket";
import Timer from "timer";

/** The classic socket API as documented (the typings lack some of these forms). */
export interface ClassicSocket {
	callback: ((message: number, value?: number) => void) | undefined;
	read(type: typeof ArrayBuffer): ArrayBuffer;
	write(): number;
	write(data: ArrayBuffer | Uint8Array): void;
	close(): void;
}
export type Dictionary = Record<string, unknown>;

/** Opens TLS connections: the socket (with its inner TCP socket, when exposed), or why it cannot. */
export interface TlsSockets {
	open(dictionary: Dictionary, options: { serverName: string; ca: string | undefined }): (ClassicSocket & { sock?: ClassicSocket }) | string;
}

const TcpSocket = Socket as unknown as new (dictionary: Dictionary) => ClassicSocket;
const net = Net as unknown as { resolve(host: string, callback: (name: string, address?: string) => void): void };
const timers = Timer as unknown as { set(callback: () => void, interval: number): unknown };

const CONNECTED = 1;
const READABLE = 2;
const WRITABLE = 3;
const DISCONNECTED = -1;
const ERROR = -2;

/** SecureSocket's estimate of a TLS record's overhead (modsecuresocket.c): writable() is the TCP room less this. */
const TLS_OVERHEAD = 128;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The TransportFactory over the classic socket; TLS through `tls` when the board has it. */
export function moddableTcp(tls?: TlsSockets): TransportFactory {
	return (options, events) => new Connection(options, events, tls);
}

type State = "starting" | "connecting" | "open" | "closed";

class Connection implements Transport {
	readonly #options: TransportOptions;
	readonly #events: TransportEvents;
	readonly #tls: TlsSockets | undefined;
	/** The socket while the stream is open (what the write path needs, in one private field). */
	#live: ClassicSocket | undefined;
	#socket: ClassicSocket | undefined;
	#state: State = "starting";
	/** TLS only: the TCP connection under the handshake was made. */
	#tcpUp = false;
	/**
	 * What a write may use of `writable` beyond its length: under TLS each write is a record, for
	 * which SecureSocket reserves 128 bytes (its estimate of the overhead); none for plain TCP.
	 */
	readonly writeOverhead: number;

	constructor(options: TransportOptions, events: TransportEvents, tls: TlsSockets | undefined) {
		this.writeOverhead = options.tls ? TLS_OVERHEAD : 0;
		this.#options = options;
		this.#events = events;
		this.#tls = tls;
		timers.set(() => this.#start(), 0);
	}

	get writable(): number {
		const socket = this.#live;
		if (socket === undefined) return 0;
		try {
			const room = socket.write();
			return room > 0 ? room : 0;
		}
		catch {
			return 0;
		}
	}

	write(bytes: Uint8Array): void {
		const socket = this.#live;
		if (socket === undefined) return;
		try {
			// Every Moddable socket (lwIP, Linux, SecureSocket) reads a byte view as it is
			// (xsmcGetBufferReadable): no copy into a buffer of its own.
			socket.write(bytes);
		}
		catch (e) {
			timers.set(() => this.#fail("io", `write failed: ${String(e)}`), 0);
		}
	}

	close(): void {
		if (this.#state === "closed") return;
		this.#state = "closed";
		this.#closeSocket();
	}

	#start(): void {
		if (this.#state !== "starting") return;
		const host = this.#options.host;
		if (IPV4.test(host)) {
			this.#open(host);
			return;
		}
		try {
			net.resolve(host, (_name, address) => {
				if (this.#state !== "starting") return;
				if (address) this.#open(address);
				else this.#fail("dns", `cannot resolve ${host}`);
			});
		}
		catch {
			// The resolver's queue is full: let the socket resolve the name itself.
			this.#open(undefined);
		}
	}

	#open(address: string | undefined): void {
		const { host, port, tls } = this.#options;
		const dictionary: Dictionary = { host: address ?? host, port, noDelay: true };
		this.#state = "connecting";
		let socket: ClassicSocket;
		if (tls) {
			if (!this.#tls) {
				this.#fail("tls", "this build has no TLS: use mqtt://");
				return;
			}
			let secureSocket: ReturnType<TlsSockets["open"]>;
			try {
				secureSocket = this.#tls.open(dictionary, { serverName: tls.serverName || host, ca: tls.ca });
			}
			catch (e) {
				secureSocket = `cannot start TLS: ${String(e)}`;
			}
			if (typeof secureSocket === "string") {
				this.#fail("tls", secureSocket);
				return;
			}
			this.#watchTcp(secureSocket.sock);
			socket = secureSocket;
		}
		else {
			try {
				socket = new TcpSocket(dictionary);
			}
			catch (e) {
				this.#fail("io", `cannot open a socket to ${host}:${port}: ${String(e)}`);
				return;
			}
		}
		this.#socket = socket;
		socket.callback = (message, value) => this.#onMessage(message, value ?? 0);
	}

	/** Wraps SecureSocket's handler on its TCP socket to learn when the TCP connection is up. */
	#watchTcp(inner: ClassicSocket | undefined): void {
		const handler = inner?.callback;
		if (!inner || typeof handler !== "function") return;
		inner.callback = (message, value) => {
			if (message === CONNECTED) this.#tcpUp = true;
			handler.call(inner, message, value);
		};
	}

	#onMessage(message: number, value: number): void {
		if (this.#state === "closed") return;
		switch (message) {
			case CONNECTED:
				this.#state = "open";
				this.#live = this.#socket;
				this.#events.onConnect();
				break;
			case READABLE:
				this.#read(value);
				break;
			case WRITABLE:
				if (this.#state === "open") this.#events.onWritable();
				break;
			case DISCONNECTED:
				if (this.#state === "open") this.#fail("closed", "the broker closed the connection");
				else this.#failToConnect("the server closed the connection");
				break;
			case ERROR:
				if (this.#state === "open") this.#fail("io", "socket error (Moddable reports no reason)");
				else this.#failToConnect("socket error (Moddable reports no reason)");
				break;
		}
	}

	#read(available: number): void {
		if (available <= 0 || !this.#socket) return;
		let chunk: ArrayBuffer;
		try {
			chunk = this.#socket.read(ArrayBuffer);
		}
		catch (e) {
			this.#fail("io", `read failed: ${String(e)}`);
			return;
		}
		if (chunk && chunk.byteLength) this.#events.onData(new Uint8Array(chunk));
	}

	#failToConnect(what: string): void {
		const { host, port, tls } = this.#options;
		if (tls && this.#tcpUp) this.#fail("tls", `TLS handshake with ${host}:${port} failed: ${what}`);
		else this.#fail("refused", `cannot connect to ${host}:${port}: ${what}; refused, unreachable or timed out`);
	}

	#fail(code: TransportErrorCode, message: string): void {
		if (this.#state === "closed") return;
		this.#state = "closed";
		this.#closeSocket();
		this.#events.onClose({ code, message });
	}

	#closeSocket(): void {
		const socket = this.#socket;
		this.#socket = undefined;
		this.#live = undefined;
		if (!socket) return;
		// A no-op rather than undefined: a message already on its way must find a function.
		socket.callback = () => {};
		// Never inside the socket's own callback (see the top of this file): on the next turn.
		timers.set(() => {
			try {
				socket.close();
			}
			catch {
				// Already closed by the SDK after -1/-2.
			}
		}, 0);
	}
}

/** The bytes as an ArrayBuffer of exactly their length (for the SDK calls that take whole buffers). */
export function exactBuffer(bytes: Uint8Array): ArrayBuffer {
	if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer as ArrayBuffer;
	return bytes.slice().buffer as ArrayBuffer;
}

/*
 * The TCP port over node:net and node:tls: the host's counterpart of Moddable's Socket and
 * SecureSocket. Errors are mapped to the transport codes the MQTT client explains.
 *
 * Writes within one turn of the event loop are coalesced (as MQTT.js corks its stream): they are
 * kept in order and go to the socket as one write at the end of the turn (process.nextTick), so a
 * burst of small packets costs one system call, not one each. What is held counts against
 * `writable` (the bound stays SEND_WINDOW); when the held bytes made `writable` report less room,
 * onWritable follows the write that releases them. close() writes what is held before it closes.
 */

import net from "node:net";
import tls from "node:tls";
import type { TransportError, TransportEvents, TransportFactory, TransportOptions, Transport } from "mqttclient/transport";
import type { TransportErrorCode } from "mqttclient/diagnostics";

/** Node's send buffer is elastic; present a bounded window like a microcontroller's TCP buffer. */
const SEND_WINDOW = 16 * 1024;

export function errorCode(e: NodeJS.ErrnoException): TransportErrorCode {
	const code = e.code ?? "";
	if (code === "ECONNREFUSED") return "refused";
	if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "EAI_NONAME") return "dns";
	if (code === "ETIMEDOUT") return "timeout";
	if (code === "ECONNRESET" || code === "EPIPE") return "reset";
	if (code === "EHOSTUNREACH" || code === "ENETUNREACH") return "unreachable";
	if (/CERT|SELF_SIGNED|TLS|SSL|DEPTH_ZERO|UNABLE_TO|HOSTNAME|ALTNAME/.test(code) || /certificate|ssl|tls/i.test(e.message)) return "tls";
	return "io";
}

function describe(e: NodeJS.ErrnoException): string {
	return e.code ? `${e.code}: ${e.message}` : e.message;
}

export const nodeTcp: TransportFactory = (options: TransportOptions, events: TransportEvents): Transport => {
	let closedByOwner = false;
	let reported = false;
	let error: TransportError | undefined;
	const socket: net.Socket = options.tls
		? tls.connect({
			host: options.host,
			port: options.port,
			ca: options.tls.ca || undefined,
			servername: net.isIP(options.tls.serverName ?? options.host) ? undefined : (options.tls.serverName ?? options.host),
			checkServerIdentity: (host, cert) => tls.checkServerIdentity(options.tls?.serverName || host, cert),
			rejectUnauthorized: true,
		})
		: net.connect({ host: options.host, port: options.port });
	socket.setNoDelay(true);
	socket.once(options.tls ? "secureConnect" : "connect", () => {
		if (!closedByOwner) events.onConnect();
	});
	socket.on("data", (chunk: Buffer) => {
		if (!closedByOwner) events.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
	});
	socket.on("drain", () => {
		if (!closedByOwner) events.onWritable();
	});
	socket.on("error", (e: NodeJS.ErrnoException) => {
		error ??= { code: errorCode(e), message: describe(e) };
	});
	socket.on("close", () => {
		if (closedByOwner || reported) return;
		reported = true;
		events.onClose(error);
	});
	/** Chunks written this turn, in order, and their total. */
	let held: Buffer[] = [];
	let heldBytes = 0;
	let scheduled = false;
	/** `writable` reported less room because of held bytes: tell the client when they are gone. */
	let starved = false;
	const release = (): void => {
		scheduled = false;
		if (!held.length) return;
		const chunks = held;
		const total = heldBytes;
		held = [];
		heldBytes = 0;
		if (socket.destroyed) return;
		socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
		if (starved && !closedByOwner && !socket.writableNeedDrain) {
			starved = false;
			events.onWritable();
		}
	};
	return {
		// Slices of Node's 8 KB Buffer pool: a fresh Uint8Array of a few hundred bytes is allocated
		// outside the heap and costs microseconds (the client fills every byte).
		allocate: (size: number) => Buffer.allocUnsafe(size),
		get writable() {
			if (socket.destroyed || socket.writableNeedDrain) return 0;
			if (heldBytes) starved = true;
			return Math.max(0, SEND_WINDOW - socket.writableLength - heldBytes);
		},
		write(bytes: Uint8Array) {
			held.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
			heldBytes += bytes.byteLength;
			if (!scheduled) {
				scheduled = true;
				process.nextTick(release);
			}
		},
		close() {
			release();
			closedByOwner = true;
			socket.destroy();
		},
	};
};

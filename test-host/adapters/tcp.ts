/*
 * The TCP port over node:net and node:tls: the host's counterpart of Moddable's Socket and
 * SecureSocket. Errors are mapped to the transport codes the MQTT client explains.
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
	return {
		get writable() {
			if (socket.destroyed || socket.writableNeedDrain) return 0;
			return Math.max(0, SEND_WINDOW - socket.writableLength);
		},
		write(bytes: Uint8Array) {
			socket.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
		},
		close() {
			closedByOwner = true;
			socket.destroy();
		},
	};
};

/*
 * A minimal HTTP/1.1 GET over the TCP port (the same TransportFactory, and so the same TLS and CA
 * handling, as the MQTT connection): one request per connection, an optional `Range: bytes=N-`,
 * the body handed on in the fragments the network delivers, never gathered.
 *
 * Accepted answers: 200 with Content-Length, or 206 with Content-Range "bytes a-b/total".
 * Chunked transfer encoding is not supported (an image server sends a length). Everything from the
 * network is checked; nothing it sends throws out of a socket callback.
 */

import { utf8Decode, utf8Encode } from "bytes";
import type { Transport, TransportFactory } from "mqttclient/transport";

export interface HttpTarget {
	tls: boolean;
	host: string;
	port: number;
	path: string;
}

export interface HttpResponse {
	status: number;
	/** First byte of the body within the whole resource (0 for a 200). */
	start: number;
	/** Size of the whole resource. */
	total: number;
}

export interface HttpEvents {
	/** The head has arrived; the body follows. */
	onResponse(response: HttpResponse): void;
	onBody(bytes: Uint8Array): void;
	/** Called once: without an error when the whole body arrived, otherwise with the reason. */
	onEnd(error?: string): void;
}

export interface HttpRequest {
	url: string;
	/** Ask for the resource from this byte on (a Range request) when above 0. */
	offset: number;
	/** The CA for https:// (PEM text or, on Moddable, a resource name), as for mqtts://. */
	ca?: string;
}

/** Longest response head accepted. */
const HEAD_LIMIT = 4096;

export function parseUrl(url: string): HttpTarget | string {
	const m = /^(https?):\/\/(\[[^\]]+\]|[^/:?#\s]+)(?::(\d{1,5}))?([/?][^\s#]*)?$/.exec(url);
	if (!m) return `not an http:// or https:// URL: ${url}`;
	const tls = m[1] === "https";
	const port = m[3] ? Number(m[3]) : tls ? 443 : 80;
	if (!(port > 0 && port < 65536)) return `bad port in ${url}`;
	const path = m[4] ?? "/";
	return { tls, host: m[2], port, path: path.startsWith("?") ? `/${path}` : path };
}

/** Starts a GET; the answer comes through `events`. cancel() closes it without an onEnd. */
export function httpGet(tcp: TransportFactory, request: HttpRequest, events: HttpEvents): { cancel(): void } {
	const target = parseUrl(request.url);
	let ended = false;
	const end = (error?: string) => {
		if (ended) return;
		ended = true;
		transport?.close();
		events.onEnd(error);
	};
	if (typeof target === "string") {
		let cancelled = false;
		Promise.resolve().then(() => {
			if (!cancelled) end(target);
		});
		return { cancel: () => (cancelled = true) };
	}
	const head: string[] = [
		`GET ${target.path} HTTP/1.1`,
		`Host: ${target.host}${(target.tls ? target.port !== 443 : target.port !== 80) ? `:${target.port}` : ""}`,
		"User-Agent: esp32-sensor-ota",
		"Accept-Encoding: identity",
		"Connection: close",
	];
	if (request.offset > 0) head.push(`Range: bytes=${request.offset}-`);
	let pending: Uint8Array | undefined = utf8Encode(`${head.join("\r\n")}\r\n\r\n`);
	let headBytes: Uint8Array = new Uint8Array(0);
	let response: HttpResponse | undefined;
	let expected = 0;
	let received = 0;
	let transport: Transport | undefined;

	const flush = () => {
		if (!pending || !transport) return;
		const room = transport.writable;
		if (room <= 0) return;
		const part = pending.length <= room ? pending : pending.subarray(0, room);
		transport.write(part);
		pending = part.length === pending.length ? undefined : pending.subarray(part.length);
	};

	const body = (bytes: Uint8Array) => {
		if (!bytes.length) return;
		const room = expected - received;
		const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
		received += part.length;
		events.onBody(part);
		if (!ended && received >= expected) end();
	};

	const onData = (bytes: Uint8Array) => {
		if (ended) return;
		if (response) {
			body(bytes);
			return;
		}
		const joined = new Uint8Array(headBytes.length + bytes.length);
		joined.set(headBytes);
		joined.set(bytes, headBytes.length);
		const at = indexOfBlankLine(joined);
		if (at < 0) {
			if (joined.length > HEAD_LIMIT) end(`response head over ${HEAD_LIMIT} bytes`);
			else headBytes = joined;
			return;
		}
		const text = utf8Decode(joined, 0, at);
		if (text === undefined) {
			end("response head is not text");
			return;
		}
		const parsed = parseHead(text, request.offset);
		if (typeof parsed === "string") {
			end(parsed);
			return;
		}
		response = parsed.response;
		expected = parsed.length;
		events.onResponse(response);
		if (ended) return;
		if (expected === 0) end();
		else body(joined.subarray(at + 4));
	};

	transport = tcp({ host: target.host, port: target.port, tls: target.tls ? { ca: request.ca, serverName: target.host } : undefined }, {
		onConnect: flush,
		onWritable: flush,
		onData: (bytes) => {
			try {
				onData(bytes);
			}
			catch (e) {
				end(`download failed: ${e instanceof Error ? e.message : String(e)}`);
			}
		},
		onClose: (error) => {
			if (ended) return;
			transport = undefined;
			const got = response ? `after ${received} of ${expected} bytes` : "before the response";
			// The TCP adapters word their messages for the MQTT broker: only the code is reported, and the
			// message where it tells something of its own (a certificate, a name).
			const detail = error && (error.code === "tls" || error.code === "dns") ? `: ${error.message}` : "";
			end(error ? `connection ${error.code === "refused" ? "refused" : `lost (${error.code})`} ${got}${detail}` : `connection closed ${got}`);
		},
	});
	return {
		cancel: () => {
			ended = true;
			transport?.close();
			transport = undefined;
		},
	};
}

function indexOfBlankLine(bytes: Uint8Array): number {
	for (let i = 0; i + 3 < bytes.length; i++) if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
	return -1;
}

/** The status line and the headers that matter; the body length to read, or why not. */
function parseHead(text: string, offset: number): { response: HttpResponse; length: number } | string {
	const lines = text.split("\r\n");
	const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
	if (!status) return `not an HTTP response: ${lines[0].slice(0, 60)}`;
	const code = Number(status[1]);
	const headers: Record<string, string> = {};
	for (const line of lines.slice(1)) {
		const colon = line.indexOf(":");
		if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
	}
	if (code !== 200 && code !== 206) return `HTTP ${code}${status[2] ? ` ${status[2]}` : ""}`;
	if (headers["transfer-encoding"] && headers["transfer-encoding"] !== "identity") return `unsupported Transfer-Encoding: ${headers["transfer-encoding"]} (the image server must send Content-Length)`;
	const length = Number(headers["content-length"]);
	if (!headers["content-length"] || !Number.isInteger(length) || length < 0) return "the response has no Content-Length";
	if (code === 200) return { response: { status: 200, start: 0, total: length }, length };
	const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers["content-range"] ?? "");
	if (!range) return `206 without a usable Content-Range: ${headers["content-range"] ?? "none"}`;
	const start = Number(range[1]);
	const last = Number(range[2]);
	if (start !== offset || last - start + 1 !== length) return `206 for bytes ${start}-${last} when ${offset}- was asked`;
	return { response: { status: 206, start, total: Number(range[3]) }, length };
}

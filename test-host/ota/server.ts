/*
 * The image server: real node:http, serving images with Range support, on 127.0.0.1 for the
 * operator's tool and the Linux target, and on the simulated network for simulated devices (the
 * same server handles the in-memory connection, as the embedded broker does).
 *
 * Fault injection for tests: cut the connection after N body bytes (the next `times` responses),
 * ignore Range (answer 200 from the start), stall without closing, flip a byte on the way.
 */

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

export interface ServerFaults {
	cut?: { afterBytes: number; times: number };
	ignoreRange?: boolean;
	/** Stop sending at this byte of the image (in every response), keeping the connection open. */
	stallAt?: number;
	/** Flip this byte (index in the image) in every response that carries it. */
	flipByte?: number;
}

export interface ServedRequest {
	path: string;
	range: string | undefined;
	status: number;
	bytes: number;
}

const PIECE = 4096;

export class ImageServer {
	readonly server: http.Server;
	readonly files = new Map<string, Buffer>();
	readonly requests: ServedRequest[] = [];
	faults: ServerFaults = {};
	readonly #stalled = new Set<http.ServerResponse>();

	constructor() {
		this.server = http.createServer((req, res) => this.#serve(req, res));
	}

	add(path: string, bytes: Buffer): void {
		this.files.set(path, bytes);
	}

	/** Listens on real TCP; returns the base URL (http://127.0.0.1:port). */
	async listen(port = 0, host = "127.0.0.1"): Promise<string> {
		await new Promise<void>((resolve, reject) => {
			this.server.once("error", reject);
			this.server.listen(port, host, () => resolve());
		});
		return `http://${host}:${(this.server.address() as AddressInfo).port}`;
	}

	/** Serves one in-memory connection (from the simulated network). */
	handle(stream: Duplex): void {
		this.server.emit("connection", stream);
	}

	async close(): Promise<void> {
		for (const res of this.#stalled) res.destroy();
		this.server.closeAllConnections();
		if (!this.server.listening) return;
		await new Promise<void>((resolve) => this.server.close(() => resolve()));
	}

	#serve(req: http.IncomingMessage, res: http.ServerResponse): void {
		const path = (req.url ?? "/").split("?")[0];
		const file = this.files.get(path);
		const range = req.headers.range;
		const record: ServedRequest = { path, range, status: 0, bytes: 0 };
		this.requests.push(record);
		if (req.method !== "GET" || !file) {
			record.status = req.method !== "GET" ? 405 : 404;
			res.writeHead(record.status, { "Content-Type": "text/plain", "Content-Length": 10 }).end("not here\r\n");
			return;
		}
		let start = 0;
		const m = range && !this.faults.ignoreRange ? /^bytes=(\d+)-$/.exec(range) : null;
		if (m) {
			start = Number(m[1]);
			if (start >= file.length) {
				record.status = 416;
				res.writeHead(416, { "Content-Range": `bytes */${file.length}`, "Content-Length": 0 }).end();
				return;
			}
			record.status = 206;
			res.writeHead(206, { "Content-Type": "application/octet-stream", "Content-Length": file.length - start, "Content-Range": `bytes ${start}-${file.length - 1}/${file.length}`, "Accept-Ranges": "bytes" });
		}
		else {
			record.status = 200;
			res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": file.length, "Accept-Ranges": "bytes" });
		}
		let body = file.subarray(start);
		const flip = this.faults.flipByte;
		if (flip !== undefined && flip >= start && flip < file.length) {
			body = Buffer.from(body);
			body[flip - start] ^= 0x01;
		}
		let limit = body.length;
		let cut = false;
		const c = this.faults.cut;
		if (c && c.times > 0 && c.afterBytes < body.length) {
			c.times--;
			limit = c.afterBytes;
			cut = true;
		}
		let stall = false;
		const stallAt = this.faults.stallAt;
		if (stallAt !== undefined && stallAt - start < limit) {
			limit = Math.max(0, stallAt - start);
			stall = true;
		}
		const send = (at: number) => {
			if (res.destroyed) return;
			if (at >= limit) {
				if (cut) res.socket?.destroy();
				else if (stall) this.#stalled.add(res);
				else res.end();
				return;
			}
			const piece = body.subarray(at, Math.min(limit, at + PIECE));
			record.bytes += piece.length;
			if (res.write(piece)) setImmediate(() => send(at + piece.length));
			else res.once("drain", () => send(at + piece.length));
		};
		send(0);
	}
}

/*
 * Setup mode's servers on the host: a real HTTP server and a real captive DNS (UDP) on 127.0.0.1,
 * and an HTTP client for the claim request. The access point itself is simulated
 * (./access-point.ts).
 */

import dgram from "node:dgram";
import http from "node:http";
import type { DnsServers, HttpClient, HttpServers } from "../../src/ports";
import { captiveAnswer } from "../../src/provisioning/dns";

const MAX_BODY = 16 * 1024;

export const nodeHttpServers: HttpServers = {
	listen(port, handler, listening) {
		const server = http.createServer((req, res) => {
			let body = "";
			let tooLarge = false;
			req.setEncoding("utf8");
			req.on("data", (chunk: string) => {
				if (body.length + chunk.length > MAX_BODY) tooLarge = true;
				else body += chunk;
			});
			req.on("end", () => {
				if (tooLarge) {
					res.writeHead(413, { "content-type": "application/json" }).end(JSON.stringify({ errors: { form: "request too large" } }));
					return;
				}
				handler({ method: req.method ?? "GET", path: req.url ?? "/", body }, (reply) => {
					const headers: Record<string, string> = { "content-type": reply.contentType, "cache-control": "no-store" };
					if (reply.location) headers.location = reply.location;
					res.writeHead(reply.status, headers).end(reply.body);
				});
			});
		});
		server.keepAliveTimeout = 1000;
		server.listen(port, "127.0.0.1", () => {
			const address = server.address();
			listening(typeof address === "object" && address ? address.port : port);
		});
		return {
			close() {
				server.close();
				server.closeAllConnections();
			},
		};
	},
};

export const nodeDnsServers: DnsServers = {
	start(address, port, listening) {
		const socket = dgram.createSocket("udp4");
		socket.on("message", (query, remote) => {
			const answer = captiveAnswer(new Uint8Array(query), address);
			if (answer) socket.send(answer, remote.port, remote.address);
		});
		socket.on("error", () => socket.close());
		socket.bind(port, "127.0.0.1", () => listening(socket.address().port));
		return {
			close() {
				try {
					socket.close();
				}
				catch {
					// already closed
				}
			},
		};
	},
};

export const nodeHttpClient: HttpClient = {
	postJson(url, body, callback) {
		fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(10_000) })
			.then(async (res) => callback({ ok: true, status: res.status, body: await res.text() }))
			.catch((e: unknown) => callback({ ok: false, error: e instanceof Error ? e.message : String(e) }));
	},
};

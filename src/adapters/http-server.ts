/*
 * HttpServers port over Moddable's `http` Server (setup mode's page and API). Each request's body
 * (at most MAX_BODY bytes) is read as text; the handler must answer synchronously, as the SDK's
 * server asks for the response when it is ready to send it (setup mode's routes all do; a handler
 * that has not answered gets 503). Bodies go out as UTF-8 bytes (the server counts a string's
 * length in characters, not bytes). Nothing thrown by a handler escapes into the socket callback.
 */

import { Server } from "http";
import type { HttpHandler, HttpReply, HttpServers } from "../ports";

const MAX_BODY = 4096;

/** What a request carries between the server's callbacks (the callback's `this`). */
interface Exchange {
	path?: string;
	method?: string;
	body?: string;
	total?: number;
	tooLarge?: boolean;
}

interface ServerInstance {
	callback: (this: Exchange, message: number, value?: unknown, etc?: unknown) => unknown;
	close(connections?: boolean): void;
}

const HttpServer = Server as unknown as new (dictionary: { port: number }) => ServerInstance;
const toBytes = (ArrayBuffer as unknown as { fromString(text: string): ArrayBuffer }).fromString;

function respond(handler: HttpHandler, exchange: Exchange): HttpReply {
	if (exchange.tooLarge) return { status: 413, contentType: "application/json", body: "{\"errors\":{\"form\":\"request too large\"}}" };
	let reply: HttpReply | undefined;
	try {
		handler({ method: exchange.method ?? "GET", path: exchange.path ?? "/", body: exchange.body ?? "" }, (r) => (reply = r));
	}
	catch (e) {
		reply = { status: 500, contentType: "text/plain", body: String(e) };
	}
	return reply ?? { status: 503, contentType: "text/plain", body: "busy" };
}

export const moddableHttpServers: HttpServers = Object.freeze({
	listen(port: number, handler: HttpHandler, listening: (port: number) => void) {
		const server = new HttpServer({ port });
		server.callback = function (this: Exchange, message: number, value?: unknown, etc?: unknown): unknown {
			try {
				switch (message) {
					case 2: // status line
						this.path = String(value);
						this.method = String(etc);
						return undefined;
					case 3: // header
						if (value === "content-length") this.total = Number(etc);
						return undefined;
					case 4: // headers complete: the body as a string, unless too large
						if ((this.total ?? 0) > MAX_BODY) {
							this.tooLarge = true;
							return false;
						}
						return String;
					case 6: // request complete
						this.body = typeof value === "string" ? value : "";
						return undefined;
					case 8: { // prepare response
						const reply = respond(handler, this);
						const headers: string[] = ["content-type", reply.contentType, "cache-control", "no-store"];
						if (reply.location) headers.push("location", reply.location);
						return { status: reply.status, headers, body: toBytes(reply.body) };
					}
				}
			}
			catch {
				// never into the socket callback
			}
			return undefined;
		};
		listening(port);
		return {
			close() {
				server.close(true);
			},
		};
	},
});

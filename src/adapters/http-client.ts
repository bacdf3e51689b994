/*
 * HttpClient port over Moddable's `http` Request (the claim call). https:// goes over SecureSocket
 * (TLS 1.2, the server name checked, the issuer looked up among the CA certificates built into
 * the firmware, as for MQTT without mqtt.ca). One call, one callback; a timeout ends a call that
 * never completes. Nothing thrown escapes into a socket callback.
 */

import { Request } from "http";
import SecureSocket from "securesocket";
import Timer from "timer";
import type { HttpClient, HttpResult } from "../ports";

interface RequestInstance {
	callback: (message: number, value?: unknown) => void;
	close(): void;
}

const HttpRequest = Request as unknown as new (dictionary: Record<string, unknown>) => RequestInstance;
const timers = Timer as unknown as { set(callback: () => void, ms: number): unknown; clear(id: unknown): void };
const TIMEOUT_MS = 15_000;
const URL = /^(https?):\/\/([^/:\s]+)(?::(\d{1,5}))?(\/\S*)?$/;

export const moddableHttpClient: HttpClient = Object.freeze({
	postJson(url: string, body: string, callback: (result: HttpResult) => void) {
		let done = false;
		let request: RequestInstance | undefined;
		let timer: unknown;
		const finish = (result: HttpResult) => {
			if (done) return;
			done = true;
			if (timer !== undefined) timers.clear(timer);
			try {
				request?.close();
			}
			catch {
				// already closed
			}
			timers.set(() => callback(result), 0);
		};
		const m = URL.exec(url);
		if (!m) return finish({ ok: false, error: `not an http:// or https:// URL: ${url.slice(0, 64)}` });
		const tls = m[1] === "https";
		const host = m[2];
		const dictionary: Record<string, unknown> = {
			host,
			port: m[3] ? Number(m[3]) : tls ? 443 : 80,
			path: m[4] ?? "/",
			method: "POST",
			headers: ["content-type", "application/json", "content-length", String((ArrayBuffer as unknown as { fromString(s: string): ArrayBuffer }).fromString(body).byteLength)],
			body,
			response: String,
		};
		if (tls) {
			dictionary.Socket = SecureSocket;
			dictionary.secure = { protocolVersion: 0x303, tls_server_name: host };
		}
		let status = 0;
		try {
			request = new HttpRequest(dictionary);
			request.callback = (message, value) => {
				try {
					if (message === 1) status = Number(value);
					else if (message === 5) finish({ ok: true, status, body: typeof value === "string" ? value : "" });
					else if (message < 0) finish({ ok: false, error: "connection failed or closed" });
				}
				catch (e) {
					finish({ ok: false, error: String(e) });
				}
			};
			timer = timers.set(() => {
				timer = undefined;
				finish({ ok: false, error: `no answer within ${TIMEOUT_MS / 1000} s` });
			}, TIMEOUT_MS);
		}
		catch (e) {
			finish({ ok: false, error: String(e) });
		}
	},
});

/*
 * Claiming: the device calls the backend's claim endpoint once with its claim code and receives
 * its MQTT credentials (the seed backend creates them in Mosquitto's dynamic security).
 *
 *   POST claimUrl  {"claimCode","mac","clientId","firmwareVersion"}
 *   200            {"username","password","brokerUrl"?}
 *   4xx            {"error": "<why>"}   (404 unknown, 409 already used, 410 expired)
 *
 * The password is never logged; the result names only the user name.
 */

import type { HttpClient } from "../ports";

export interface ClaimRequest {
	claimCode: string;
	mac: string;
	clientId: string;
	firmwareVersion: string;
}

export type ClaimResult =
	| { ok: true; username: string; password: string; brokerUrl?: string }
	| { ok: false; code: "refused" | "expired" | "used" | "unknown" | "network" | "bad_response"; error: string };

const MAX_FIELD = 256;

function text(v: unknown): v is string {
	return typeof v === "string" && v.length > 0 && v.length <= MAX_FIELD;
}

export function claim(http: HttpClient, url: string, request: ClaimRequest, callback: (result: ClaimResult) => void): void {
	let done = false;
	const finish = (result: ClaimResult) => {
		if (done) return;
		done = true;
		callback(result);
	};
	try {
		http.postJson(url, JSON.stringify(request), (result) => {
			if (!result.ok) return finish({ ok: false, code: "network", error: `the claim server cannot be reached: ${result.error}` });
			finish(interpret(result.status, result.body));
		});
	}
	catch (e) {
		finish({ ok: false, code: "network", error: `the claim request failed: ${String(e)}` });
	}
}

export function interpret(status: number, body: string): ClaimResult {
	let value: unknown;
	try {
		value = JSON.parse(body);
	}
	catch {
		value = undefined;
	}
	const o = value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
	if (status >= 200 && status < 300) {
		if (!text(o.username) || !text(o.password)) return { ok: false, code: "bad_response", error: "the claim server's answer has no username and password" };
		const result: ClaimResult = { ok: true, username: o.username, password: o.password };
		if (text(o.brokerUrl)) result.brokerUrl = o.brokerUrl;
		return result;
	}
	const reason = typeof o.error === "string" ? o.error.slice(0, 120) : `HTTP ${status}`;
	const code = status === 404 ? "unknown" : status === 409 ? "used" : status === 410 ? "expired" : "refused";
	return { ok: false, code, error: `claim refused: ${reason}` };
}

/*
 * A stand-in for the seed backend's claim flow (see docs/provisioning.md): it issues claim codes
 * and, when a device claims with one, creates the device's client in a real Mosquitto through the
 * dynamic security plugin (`mosquitto_ctrl dynsec createClient` + `addClientRole`), with a fresh
 * random password returned once to the device. Unknown, used and expired codes are refused, as the
 * seed backend does (404, 409, 410).
 *
 *   POST /codes  {"ttlSeconds"?: number}                        -> 201 {"code","expiresAt"}
 *   POST /claim  {"claimCode","mac","clientId","firmwareVersion"} -> 200 {"username","password","brokerUrl"}
 */

import crypto from "node:crypto";
import http from "node:http";
import type { Mosquitto } from "../brokers/mosquitto";

export interface ClaimServerOptions {
	broker: Pick<Mosquitto, "dynsec">;
	/** Returned to the device (its broker URL). */
	brokerUrl: string;
	/** The dynsec role devices get; created at start with ACLs on these topic roots. */
	role?: string;
	topicRoots?: string[];
	/** Default 0: a free port. */
	port?: number;
	/** Default 600 s. */
	defaultTtlSeconds?: number;
	now?: () => number;
}

export interface Claimed {
	code: string;
	clientId: string;
	mac: string;
	firmwareVersion: string;
	username: string;
}

export interface ClaimServer {
	url: string;
	/** The claim endpoint devices call. */
	claimUrl: string;
	issue(ttlSeconds?: number): { code: string; expiresAt: number };
	claimed: Claimed[];
	close(): Promise<void>;
}

interface Code {
	expiresAt: number;
	usedBy?: string;
}

const MAC = /^[0-9A-F]{2}(:[0-9A-F]{2}){5}$/i;
const CLIENT_ID = /^[A-Za-z0-9_-]{1,64}$/;

function readBody(req: http.IncomingMessage): Promise<string> {
	return new Promise((resolve, reject) => {
		let body = "";
		req.setEncoding("utf8");
		req.on("data", (chunk: string) => {
			body += chunk;
			if (body.length > 4096) req.destroy(new Error("body too large"));
		});
		req.on("end", () => resolve(body));
		req.on("error", reject);
	});
}

export async function startClaimServer(options: ClaimServerOptions): Promise<ClaimServer> {
	const now = options.now ?? Date.now;
	const role = options.role ?? "device";
	const codes = new Map<string, Code>();
	const claimed: Claimed[] = [];
	const broker = options.broker;
	await broker.dynsec("createRole", role).catch((e: Error) => {
		if (!/already exists/i.test(e.message)) throw e;
	});
	for (const root of options.topicRoots ?? ["smarthome/#", "tenant/#", "global/#", "sensors/#"])
		for (const type of ["publishClientSend", "publishClientReceive", "subscribePattern"]) await broker.dynsec("addRoleACL", role, type, root, "allow", "5");

	const issue = (ttlSeconds = options.defaultTtlSeconds ?? 600) => {
		const code = crypto.randomBytes(6).toString("hex").toUpperCase().replace(/(.{4})(?=.)/g, "$1-");
		const expiresAt = now() + ttlSeconds * 1000;
		codes.set(code, { expiresAt });
		return { code, expiresAt };
	};

	const reply = (res: http.ServerResponse, status: number, value: unknown) => {
		res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
	};

	const claim = async (body: Record<string, unknown>): Promise<[number, unknown]> => {
		const { claimCode, mac, clientId, firmwareVersion } = body;
		if (typeof claimCode !== "string" || typeof mac !== "string" || !MAC.test(mac) || typeof clientId !== "string" || !CLIENT_ID.test(clientId))
			return [400, { error: "claimCode, mac (AA:BB:CC:DD:EE:FF) and clientId are required" }];
		const entry = codes.get(claimCode.toUpperCase());
		if (!entry) return [404, { error: "unknown claim code" }];
		if (entry.usedBy) return [409, { error: "claim code already used" }];
		if (now() > entry.expiresAt) return [410, { error: "claim code expired" }];
		entry.usedBy = clientId; // before the broker calls: a code is used once even when two claims race
		const password = crypto.randomBytes(18).toString("base64url");
		try {
			await broker.dynsec("createClient", clientId, "-p", password).catch(async (e: Error) => {
				if (!/already exists/i.test(e.message)) throw e;
				await broker.dynsec("setClientPassword", clientId, password); // a device claimed again (after a factory reset)
			});
			await broker.dynsec("addClientRole", clientId, role);
		}
		catch (e) {
			entry.usedBy = undefined;
			return [502, { error: `the broker refused the new client: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}` }];
		}
		claimed.push({ code: claimCode, clientId, mac, firmwareVersion: String(firmwareVersion ?? ""), username: clientId });
		return [200, { username: clientId, password, brokerUrl: options.brokerUrl }];
	};

	const server = http.createServer((req, res) => {
		readBody(req)
			.then(async (text) => {
				let body: Record<string, unknown> = {};
				try {
					const parsed: unknown = text ? JSON.parse(text) : {};
					if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
					else return reply(res, 400, { error: "body must be a JSON object" });
				}
				catch {
					return reply(res, 400, { error: "body is not JSON" });
				}
				if (req.method === "POST" && req.url === "/claim") {
					const [status, value] = await claim(body);
					return reply(res, status, value);
				}
				if (req.method === "POST" && req.url === "/codes") {
					const ttl = body.ttlSeconds;
					if (ttl !== undefined && (typeof ttl !== "number" || !(ttl >= 0))) return reply(res, 400, { error: "ttlSeconds must be a number >= 0" });
					return reply(res, 201, issue(ttl as number | undefined));
				}
				reply(res, 404, { error: `no ${req.method} ${req.url}` });
			})
			.catch((e: unknown) => reply(res, 500, { error: String(e) }));
	});
	await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
	const port = (server.address() as { port: number }).port;
	const url = `http://127.0.0.1:${port}`;
	return {
		url,
		claimUrl: `${url}/claim`,
		issue,
		claimed,
		close: () => new Promise<void>((resolve) => {
			server.close(() => resolve());
			server.closeAllConnections();
		}),
	};
}

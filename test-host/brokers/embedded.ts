/*
 * The embedded broker: aedes (MQTT 3.1.1) in-process, with the authentication EMQX does for
 * devices like ours (emqx_authn_jwt, HMAC-based, "from: password"): the signature (HS256, HS384 or
 * HS512), then the time claims when present, in whole seconds of the broker's clock and with no
 * leeway: exp > now, iat <= now (EMQX before 5.8; 5.8 dropped the iat check, emqx/emqx#13602, so
 * `checkIat: false` models it), nbf <= now, each a number or a numeric string; then iss and aud,
 * when configured, present and equal. A refusal is answered with CONNACK 5. Optionally it closes a
 * connection when its token's exp passes (EMQX's disconnect_after_expire, the default since 5.7).
 * It also speaks plain user/password, or no authentication.
 *
 * It serves real TCP on 127.0.0.1 (npm start, interop tests) and in-memory streams from the
 * simulated network (virtual-clock tests); its clock is injectable so token expiry follows
 * simulated time.
 */

import net from "node:net";
import type { Duplex } from "node:stream";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { compactVerify } from "jose";
import { pushBounded } from "../adapters/bounded";
import { realWorldClock, type WorldClock } from "../adapters/clock";

export type BrokerAuth =
	/** checkIat: refuse an iat later than the broker's clock, as EMQX before 5.8 does (default true). */
	| { mode: "jwt"; secret: string; issuer?: string; audience?: string; checkIat?: boolean }
	| { mode: "password"; users: Record<string, string> }
	| { mode: "none" };

export interface EmbeddedBrokerOptions {
	auth?: BrokerAuth;
	/** Close a connection when its JWT expires. */
	disconnectAfterExpire?: boolean;
	clock?: WorldClock;
	/** Users that may always connect with a password (e.g. the backend), whatever the auth mode. */
	serviceUsers?: Record<string, string>;
	log?: (line: string) => void;
}

/** How many entries each list in BrokerStats keeps (the most recent); the counters count all. */
export const STATS_LIMIT = 1000;

export interface BrokerStats {
	accepted: number;
	/** Refusals: the count, and the most recent STATS_LIMIT with their reasons. */
	refusedTotal: number;
	refused: { clientId: string; reason: string }[];
	expiredKicks: { clientId: string; at: number }[];
	/** The most recent STATS_LIMIT accepted connections: client id, when, and the token's exp (seconds) when there was one. */
	connections: { clientId: string; at: number; exp?: number }[];
}

type JwtAuth = Extract<BrokerAuth, { mode: "jwt" }>;

/** The HMAC algorithms EMQX accepts with a shared secret. */
const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"];

/** A time claim as EMQX reads it (try_convert_to_num): a number or a numeric string; NaN otherwise. */
function timeClaim(value: unknown): number | undefined {
	if (value === undefined) return undefined;
	if (typeof value === "number") return value;
	if (typeof value === "string" && /^[+-]?\d+(\.\d+([eE][+-]?\d+)?)?$/.test(value)) return Number(value);
	return Number.NaN;
}

/**
 * EMQX's claim checks (emqx_authn_jwt:verify_claims) at `nowMs`; returns why the token is refused,
 * or undefined when it passes.
 */
export function emqxClaimsProblem(claims: Record<string, unknown>, auth: Pick<JwtAuth, "issuer" | "audience" | "checkIat">, nowMs: number): string | undefined {
	const now = Math.floor(nowMs / 1000);
	const exp = timeClaim(claims.exp);
	const iat = auth.checkIat === false ? undefined : timeClaim(claims.iat);
	const nbf = timeClaim(claims.nbf);
	if (exp !== undefined && !(now < exp)) return `exp ${String(claims.exp)} is not after the broker's clock ${now}`;
	if (iat !== undefined && !(iat <= now)) return `iat ${String(claims.iat)} is later than the broker's clock ${now}`;
	if (nbf !== undefined && !(nbf <= now)) return `nbf ${String(claims.nbf)} is later than the broker's clock ${now}`;
	if (auth.issuer !== undefined && claims.iss !== auth.issuer) return claims.iss === undefined ? "no iss claim" : `iss ${JSON.stringify(claims.iss)} is not ${JSON.stringify(auth.issuer)}`;
	if (auth.audience !== undefined && claims.aud !== auth.audience) return claims.aud === undefined ? "no aud claim" : `aud ${JSON.stringify(claims.aud)} is not ${JSON.stringify(auth.audience)}`;
	return undefined;
}

class RefusedError extends Error implements AuthenticateError {
	returnCode: 5 = 5;
}

export class EmbeddedBroker {
	readonly aedes: Aedes;
	readonly stats: BrokerStats = { accepted: 0, refusedTotal: 0, refused: [], expiredKicks: [], connections: [] };
	readonly #o: EmbeddedBrokerOptions;
	readonly #clock: WorldClock;
	readonly #expiry = new Map<Client, unknown>();
	#server: net.Server | undefined;
	#refuseNext = 0;
	/** Authentications under way (JWT verification is asynchronous). */
	pendingAuth = 0;

	private constructor(aedes: Aedes, options: EmbeddedBrokerOptions) {
		this.aedes = aedes;
		this.#o = options;
		this.#clock = options.clock ?? realWorldClock;
		aedes.authenticate = (client, username, password, done) => {
			this.pendingAuth++;
			this.#authenticate(client, username, password).then(
				(exp) => {
					this.pendingAuth--;
					this.#accepted(client, exp);
					done(null, true);
				},
				(e: Error) => {
					this.pendingAuth--;
					this.stats.refusedTotal++;
					pushBounded(this.stats.refused, { clientId: client.id, reason: e.message }, STATS_LIMIT);
					this.#o.log?.(`refused ${client.id}: ${e.message}`);
					done(new RefusedError(e.message), false);
				},
			);
		};
		aedes.on("clientDisconnect", (client) => this.#forget(client));
		aedes.on("clientError", (client) => this.#forget(client));
	}

	static async start(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
		const aedes = await Aedes.createBroker({ heartbeatInterval: 3_600_000 });
		return new EmbeddedBroker(aedes, options);
	}

	/** Serves real TCP; returns the port. */
	async listen(port = 0, host = "127.0.0.1"): Promise<number> {
		const server = net.createServer((socket) => this.aedes.handle(socket));
		this.#server = server;
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(port, host, () => resolve());
		});
		return (server.address() as net.AddressInfo).port;
	}

	/** Serves one in-memory connection (from the simulated network). */
	handle(stream: Duplex): void {
		this.aedes.handle(stream);
	}

	/** Refuses the next `count` connections with CONNACK 5, whatever their credentials. */
	refuseNext(count: number): void {
		this.#refuseNext = count;
	}

	async close(): Promise<void> {
		for (const timer of this.#expiry.values()) this.#clock.clear(timer);
		this.#expiry.clear();
		await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
		if (this.#server) await new Promise<void>((resolve) => this.#server!.close(() => resolve()));
	}

	async #authenticate(client: Client, username: string | undefined, password: Buffer | undefined): Promise<number | undefined> {
		if (this.#refuseNext > 0) {
			this.#refuseNext--;
			throw new Error("refused by test fault injection");
		}
		const service = username !== undefined ? this.#o.serviceUsers?.[username] : undefined;
		if (service !== undefined && password?.toString() === service) return undefined;
		const auth = this.#o.auth ?? { mode: "none" };
		if (auth.mode === "none") return undefined;
		if (!password) throw new Error("no password");
		if (auth.mode === "password") {
			if (username === undefined || auth.users[username] !== password.toString()) throw new Error("bad user name or password");
			return undefined;
		}
		return this.#verifyJwt(password.toString(), auth);
	}

	async #verifyJwt(token: string, auth: JwtAuth): Promise<number | undefined> {
		let claims: unknown;
		try {
			const { payload } = await compactVerify(token, new TextEncoder().encode(auth.secret), { algorithms: HMAC_ALGORITHMS });
			claims = JSON.parse(new TextDecoder().decode(payload));
		}
		catch (e) {
			throw new Error(`JWT rejected: ${(e as Error).message}`);
		}
		if (!claims || typeof claims !== "object" || Array.isArray(claims)) throw new Error("JWT rejected: the claims are not a JSON object");
		const record = claims as Record<string, unknown>;
		// The clock is read after the (asynchronous) signature check, as EMQX reads it in verify_claims.
		const problem = emqxClaimsProblem(record, auth, this.#clock.now());
		if (problem) throw new Error(`JWT rejected: ${problem}`);
		return timeClaim(record.exp);
	}

	#accepted(client: Client, exp: number | undefined): void {
		this.stats.accepted++;
		pushBounded(this.stats.connections, { clientId: client.id, at: this.#clock.now(), exp }, STATS_LIMIT);
		if (!this.#o.disconnectAfterExpire || exp === undefined) return;
		const ms = exp * 1000 - this.#clock.now();
		const timer = this.#clock.set(() => {
			this.#expiry.delete(client);
			pushBounded(this.stats.expiredKicks, { clientId: client.id, at: this.#clock.now() }, STATS_LIMIT);
			this.#o.log?.(`token of ${client.id} expired: closing the connection`);
			client.close();
		}, Math.max(0, ms));
		this.#expiry.set(client, timer);
	}

	#forget(client: Client): void {
		const timer = this.#expiry.get(client);
		if (timer === undefined) return;
		this.#clock.clear(timer);
		this.#expiry.delete(client);
	}
}

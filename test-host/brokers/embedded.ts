/*
 * The embedded broker: aedes (MQTT 3.1.1) in-process, with the authentication EMQX does for
 * devices like ours: an HS256 JWT in the password field, exp and nbf checked when present with no
 * leeway, iss and aud checked when configured, a refusal answered with CONNACK 5. Optionally it
 * closes a connection when its token's exp passes (EMQX's disconnect_after_expire, the default
 * since 5.7). It also speaks plain user/password, or no authentication.
 *
 * It serves real TCP on 127.0.0.1 (npm start, interop tests) and in-memory streams from the
 * simulated network (virtual-clock tests); its clock is injectable so token expiry follows
 * simulated time.
 */

import net from "node:net";
import type { Duplex } from "node:stream";
import { Aedes, type AuthenticateError, type Client } from "aedes";
import { jwtVerify } from "jose";
import { realWorldClock, type WorldClock } from "../adapters/clock";

export type BrokerAuth =
	| { mode: "jwt"; secret: string; issuer?: string; audience?: string }
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

export interface BrokerStats {
	accepted: number;
	refused: { clientId: string; reason: string }[];
	expiredKicks: { clientId: string; at: number }[];
	/** Every accepted connection: client id, when, and the token's exp (seconds) when there was one. */
	connections: { clientId: string; at: number; exp?: number }[];
}

class RefusedError extends Error implements AuthenticateError {
	returnCode: 5 = 5;
}

export class EmbeddedBroker {
	readonly aedes: Aedes;
	readonly stats: BrokerStats = { accepted: 0, refused: [], expiredKicks: [], connections: [] };
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
					this.stats.refused.push({ clientId: client.id, reason: e.message });
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

	async #verifyJwt(token: string, auth: Extract<BrokerAuth, { mode: "jwt" }>): Promise<number | undefined> {
		try {
			const { payload } = await jwtVerify(token, new TextEncoder().encode(auth.secret), {
				algorithms: ["HS256"],
				issuer: auth.issuer,
				audience: auth.audience,
				currentDate: new Date(this.#clock.now()),
				clockTolerance: 0,
			});
			return typeof payload.exp === "number" ? payload.exp : undefined;
		}
		catch (e) {
			throw new Error(`JWT rejected: ${(e as Error).message}`);
		}
	}

	#accepted(client: Client, exp: number | undefined): void {
		this.stats.accepted++;
		this.stats.connections.push({ clientId: client.id, at: this.#clock.now(), exp });
		if (!this.#o.disconnectAfterExpire || exp === undefined) return;
		const ms = exp * 1000 - this.#clock.now();
		const timer = this.#clock.set(() => {
			this.#expiry.delete(client);
			this.stats.expiredKicks.push({ clientId: client.id, at: this.#clock.now() });
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

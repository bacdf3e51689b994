/*
 * An in-process network for simulated devices on the virtual clock: brokers listen on a
 * host:port and receive a Duplex stream per connection (aedes.handle(stream) accepts it), devices
 * connect through the same TCP port interface they use on the board.
 *
 * Faults on demand: a host that refuses connections (broker down), dropping every connection
 * (broker restart), and half-open connections that silently swallow bytes in both directions.
 */

import { Duplex } from "node:stream";
import type { Transport, TransportEvents, TransportFactory, TransportOptions } from "mqttclient/transport";
import { pushBounded } from "./bounded";

/** Connection attempts kept in SimNetworkStats.attempts (the most recent). */
export const ATTEMPTS_LIMIT = 10_000;

type Acceptor = (stream: Duplex) => void;

interface Link {
	endpoint: string;
	server: Duplex;
	events: TransportEvents;
	dead: boolean;
	/** Either end has closed. */
	closed: boolean;
	/** The device closed its end: nothing more reaches it. */
	deviceClosed: boolean;
}

export interface SimNetworkStats {
	connects: number;
	refused: number;
	/** Virtual-time stamps of the last ATTEMPTS_LIMIT connection attempts per endpoint, for fleet tests. */
	attempts: { endpoint: string; at: number }[];
}

export class SimNetwork {
	readonly #acceptors = new Map<string, Acceptor>();
	readonly #down = new Set<string>();
	readonly #links = new Set<Link>();
	readonly #now: () => number;
	readonly stats: SimNetworkStats = { connects: 0, refused: 0, attempts: [] };
	/** Deliveries scheduled but not yet made (for settling a simulation). */
	#inFlight = 0;

	get inFlight(): number {
		return this.#inFlight;
	}

	#later(fn: () => void): void {
		this.#inFlight++;
		setImmediate(() => {
			this.#inFlight--;
			fn();
		});
	}

	/** @param now virtual time, to stamp connection attempts */
	constructor(now: () => number = () => 0) {
		this.#now = now;
	}

	listen(host: string, port: number, acceptor: Acceptor): void {
		this.#acceptors.set(`${host}:${port}`, acceptor);
	}

	unlisten(host: string, port: number): void {
		this.#acceptors.delete(`${host}:${port}`);
	}

	/** While down, connections to the endpoint are refused and existing ones are closed. */
	setDown(host: string, port: number, down: boolean): void {
		const endpoint = `${host}:${port}`;
		if (down) {
			this.#down.add(endpoint);
			this.closeAll(endpoint);
		}
		else this.#down.delete(endpoint);
	}

	/** Closes every connection (to one endpoint, or all), as a broker restart does. */
	closeAll(endpoint?: string): void {
		for (const link of [...this.#links]) if (!endpoint || link.endpoint === endpoint) this.#close(link, true);
	}

	/** The connections open now stop carrying bytes in either direction, without closing: half-open. */
	blackholeExisting(): number {
		let n = 0;
		for (const link of this.#links) {
			if (!link.dead) n++;
			link.dead = true;
		}
		return n;
	}

	get openConnections(): number {
		return this.#links.size;
	}

	readonly tcp: TransportFactory = (options: TransportOptions, events: TransportEvents): Transport => {
		const endpoint = `${options.host}:${options.port}`;
		pushBounded(this.stats.attempts, { endpoint, at: this.#now() }, ATTEMPTS_LIMIT);
		const acceptor = this.#acceptors.get(endpoint);
		let link: Link | undefined;
		if (!acceptor || this.#down.has(endpoint) || options.tls) {
			this.stats.refused++;
			this.#later(() => events.onClose({ code: "refused", message: `connect ECONNREFUSED ${endpoint}` }));
		}
		else {
			this.stats.connects++;
			link = this.#open(endpoint, acceptor, events);
		}
		return {
			get writable() {
				return link && !link.closed ? 64 * 1024 : 0;
			},
			write: (bytes: Uint8Array) => {
				if (!link || link.closed || link.dead) return;
				const copy = Buffer.from(bytes);
				const target = link;
				this.#later(() => {
					if (!target.server.destroyed && !target.dead) target.server.push(copy);
				});
			},
			close: () => {
				if (!link) return;
				link.deviceClosed = true;
				this.#close(link, false);
			},
		};
	};

	#open(endpoint: string, acceptor: Acceptor, events: TransportEvents): Link {
		const link = { endpoint, events, dead: false, closed: false, deviceClosed: false } as Link;
		link.server = new Duplex({
			read() {},
			write: (chunk: Buffer, _encoding, callback) => {
				if (!link.closed && !link.dead) {
					const bytes = new Uint8Array(chunk);
					// Bytes written before the broker closed still arrive, as TCP delivers them before the FIN.
					this.#later(() => {
						if (!link.deviceClosed && !link.dead) events.onData(bytes);
					});
				}
				callback();
			},
			final: (callback) => {
				// The broker ended the connection.
				callback();
				this.#later(() => this.#close(link, true));
			},
		});
		link.server.on("error", () => {});
		link.server.on("close", () => this.#close(link, true));
		this.#links.add(link);
		this.#later(() => {
			if (link.closed) return;
			acceptor(link.server);
			events.onConnect();
		});
		return link;
	}

	/** @param notifyDevice true when the far end closed (the device hears about it). */
	#close(link: Link, notifyDevice: boolean): void {
		if (link.closed) return;
		link.closed = true;
		this.#links.delete(link);
		if (!link.dead) {
			link.server.push(null);
			link.server.destroy();
		}
		if (notifyDevice && !link.dead) this.#later(() => {
			if (!link.deviceClosed) link.events.onClose();
		});
	}
}

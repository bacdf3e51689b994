/*
 * Simulated SNTP: answers with the host's (or the simulated world's) time, optionally skewed or
 * failing, after a short delay.
 */

import type { SNTP, SntpResult } from "../../src/ports";

export interface SimulatedSntpOptions {
	clock: { set(callback: () => void, ms: number): unknown };
	/** The true time, ms since 1970. */
	trueTime: () => number;
	delayMs?: number;
}

export class SimulatedSntp implements SNTP {
	readonly #o: SimulatedSntpOptions;
	/** Added to the true time in answers. */
	skewMs = 0;
	/** While true, no server answers. */
	failing = false;
	requests = 0;

	constructor(options: SimulatedSntpOptions) {
		this.#o = options;
	}

	sync(servers: readonly string[], callback: (result: SntpResult) => void): void {
		this.requests++;
		this.#o.clock.set(() => {
			if (this.failing || !servers.length) callback({ ok: false, error: `no response from ${servers.join(", ") || "any server"}` });
			else callback({ ok: true, epochMs: this.#o.trueTime() + this.skewMs, server: servers[0] });
		}, this.#o.delayMs ?? 120);
	}
}

/*
 * Exponential backoff with a floor, a cap and random jitter, for reconnect attempts.
 *
 * delay(n) = min(cap, floor * factor^n) + jitter, jitter uniform in [0, jitterRatio * delay).
 * The floor is never undercut, so a fleet of devices never hammers a broker faster than it.
 */

export interface BackoffOptions {
	/** Smallest delay in ms (also the first one). */
	floor: number;
	/** Largest delay in ms before jitter. */
	cap: number;
	/** Growth per failure. Default 2. */
	factor?: number;
	/** Jitter as a fraction of the delay, added on top. Default 0.25. */
	jitter?: number;
	/** Uniform random number in [0, 1). */
	random: () => number;
}

export class Backoff {
	readonly #o: Required<BackoffOptions>;
	#failures = 0;

	constructor(options: BackoffOptions) {
		if (!(options.floor > 0) || !(options.cap >= options.floor)) throw new RangeError("backoff needs 0 < floor <= cap");
		this.#o = { factor: 2, jitter: 0.25, ...options };
	}

	/** Failures since the last reset. */
	get failures(): number {
		return this.#failures;
	}

	/** The delay before the next attempt, counting one more failure. */
	next(): number {
		const base = Math.min(this.#o.cap, this.#o.floor * Math.pow(this.#o.factor, this.#failures));
		this.#failures++;
		return Math.round(base + base * this.#o.jitter * this.#o.random());
	}

	/** Back to the floor (after a connection that stayed up). */
	reset(): void {
		this.#failures = 0;
	}
}

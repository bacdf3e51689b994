/*
 * Ordered timers for simulated time: by due time, then by scheduling order, so a simulation is
 * deterministic. Plain ECMAScript (the XS scenario's clock uses it too); the clocks around it
 * decide what "now" is.
 */

export interface QueuedTimer<Owner = unknown> {
	at: number;
	seq: number;
	/** 0 for a one-shot timer. */
	interval: number;
	callback: () => void;
	owner: Owner | undefined;
	cancelled: boolean;
}

export class TimerQueue<Owner = unknown> {
	#seq = 0;
	#timers: QueuedTimer<Owner>[] = [];

	get size(): number {
		return this.#timers.length;
	}

	add(at: number, interval: number, callback: () => void, owner?: Owner): QueuedTimer<Owner> {
		const timer: QueuedTimer<Owner> = { at, seq: this.#seq++, interval, callback, owner, cancelled: false };
		this.#insert(timer);
		return timer;
	}

	cancel(timer: QueuedTimer<Owner>): void {
		if (timer.cancelled) return;
		timer.cancelled = true;
		const i = this.#timers.indexOf(timer);
		if (i >= 0) this.#timers.splice(i, 1);
	}

	cancelOwned(owner: Owner): void {
		for (const t of this.#timers) if (t.owner === owner) t.cancelled = true;
		this.#timers = this.#timers.filter((t) => t.owner !== owner);
	}

	/**
	 * The next timer due at or before `end`: removed (a repeating one goes back in for its next
	 * time), returned with the time it is due. Undefined when none is due.
	 */
	next(end: number): { at: number; callback: () => void } | undefined {
		const timer = this.#timers[0];
		if (!timer || timer.at > end) return undefined;
		this.#timers.shift();
		const at = timer.at;
		if (timer.interval > 0) {
			timer.at += timer.interval;
			timer.seq = this.#seq++;
			this.#insert(timer);
		}
		else timer.cancelled = true;
		return { at, callback: timer.callback };
	}

	#insert(timer: QueuedTimer<Owner>): void {
		const list = this.#timers;
		let lo = 0;
		let hi = list.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			const t = list[mid];
			if (t.at < timer.at || (t.at === timer.at && t.seq < timer.seq)) lo = mid + 1;
			else hi = mid;
		}
		list.splice(lo, 0, timer);
	}
}

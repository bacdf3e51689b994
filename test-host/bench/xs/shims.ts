/*
 * Stand-ins for Moddable's `socket`, `net`, `timer` and `time` modules, so that the firmware's own
 * socket adapter (src/adapters/socket.ts), clock adapter and Moddable's `mqtt` module run unchanged
 * in xsnap (which has none of them). Nothing here touches a network: the socket counts what it is
 * given and hands back what the benchmark queued for it; timers wait until the benchmark runs them.
 * The benchmark measures the XS cost of the clients themselves, down to the socket's write().
 */

interface Pending {
	callback: () => void;
	repeat: boolean;
}

/** State shared by the shims and the benchmark entry (a bench harness, not firmware: mutable on purpose). */
export const fake = {
	sockets: [] as FakeSocket[],
	timers: new Map<number, Pending>(),
	nextTimer: 1,
	/** Runs the one-shot timers that are due (all of them: time does not pass here). */
	runTimers(): void {
		for (const [id, t] of [...this.timers]) {
			if (t.repeat) continue;
			this.timers.delete(id);
			t.callback();
		}
	},
};

export class FakeSocket {
	callback: ((message: number, value?: number) => void) | undefined;
	readonly dictionary: Record<string, unknown>;
	/** What write() with no argument reports: free room in the TCP send buffer. */
	room = 8192;
	written = 0;
	writes = 0;
	incoming: ArrayBuffer[] = [];
	constructor(dictionary: Record<string, unknown>) {
		this.dictionary = dictionary;
		fake.sockets.push(this);
	}
	write(data?: ArrayBuffer): number | undefined {
		if (data === undefined) return this.room;
		this.written += data.byteLength;
		this.writes++;
		return undefined;
	}
	read(_type?: unknown): ArrayBuffer | undefined {
		return this.incoming.shift();
	}
	close(): void {}
	/** The benchmark's side: bytes from the broker. */
	deliver(bytes: Uint8Array): void {
		this.incoming.push(bytes.slice().buffer as ArrayBuffer);
		this.callback?.(2, bytes.length);
	}
}

export const Socket = FakeSocket;
export const Listener = FakeSocket;

export const Net = {
	resolve(_host: string, callback: (name: string, address?: string) => void): void {
		callback(_host, "127.0.0.1");
	},
	get(): undefined {
		return undefined;
	},
};

function add(callback: () => void, repeat: boolean): number {
	const id = fake.nextTimer++;
	fake.timers.set(id, { callback, repeat });
	return id;
}

export const Timer = {
	set(callback: () => void, _ms?: number): number {
		return add(callback, false);
	},
	repeat(callback: () => void, _ms?: number): number {
		return add(callback, true);
	},
	clear(id: unknown): void {
		fake.timers.delete(id as number);
	},
	schedule(): void {},
	delay(): void {},
};

declare const performance: { now(): number };

export const Time = {
	get ticks(): number {
		return Math.floor(performance.now());
	},
	set(_seconds: number): void {},
};

export class WSClient {}

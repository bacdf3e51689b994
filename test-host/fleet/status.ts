/*
 * The fleet's live status line, once a second: devices booted, connected, connecting,
 * reconnecting, messages and acknowledgements per second, PUBACK latency p50/p99 over the last
 * second, event-loop delay, and failures by diagnostic code. On a terminal it rewrites one line;
 * otherwise it prints plain lines.
 */

import type { Fleet } from "./fleet";

export class StatusLine {
	readonly #fleet: Fleet;
	readonly #tty: boolean;
	readonly #write: (text: string) => void;
	#published = 0;
	#acked = 0;
	#at = performance.now();
	#timer: ReturnType<typeof setInterval> | undefined;
	#shown = false;

	readonly #columns: () => number | undefined;

	/** columns: the terminal's width; a longer line is cut, since a wrapped line cannot be rewritten in place. */
	constructor(fleet: Fleet, options: { tty: boolean; write: (text: string) => void; columns?: () => number | undefined }) {
		this.#fleet = fleet;
		this.#tty = options.tty;
		this.#write = options.write;
		this.#columns = options.columns ?? (() => undefined);
	}

	start(everyMs = 1000): void {
		this.#timer = setInterval(() => this.show(), everyMs);
	}

	stop(): void {
		clearInterval(this.#timer);
		if (this.#tty && this.#shown) this.#write("\n");
		this.#shown = false;
	}

	/** A message on its own line, the status line redrawn after it on a terminal. */
	say(line: string): void {
		if (this.#tty && this.#shown) this.#write("\r\x1b[2K");
		this.#write(`${line}\n`);
		this.#shown = false;
	}

	show(): void {
		const text = this.line();
		if (this.#tty) {
			const columns = this.#columns();
			this.#write(`\r\x1b[2K${columns && text.length >= columns ? text.slice(0, columns - 1) : text}`);
			this.#shown = true;
		}
		else this.#write(`${text}\n`);
	}

	/** The status now (and the rates since the previous call). */
	line(): string {
		const f = this.#fleet;
		const s = f.stats;
		const now = performance.now();
		const seconds = Math.max(0.001, (now - this.#at) / 1000);
		const msgRate = (s.published - this.#published) / seconds;
		const ackRate = (s.acked - this.#acked) / seconds;
		this.#published = s.published;
		this.#acked = s.acked;
		this.#at = now;
		const [p50, p99] = s.pubackWindow.percentiles(50, 99);
		s.pubackWindow.clear();
		const failures = Object.entries(s.failures).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${n}`).join(", ");
		return [
			`${(f.elapsed() / 1000).toFixed(0).padStart(4)}s`,
			`booted ${f.booted}/${f.options.devices}`,
			`connected ${s.states.connected}`,
			`connecting ${s.states.connecting}`,
			`reconnecting ${s.states.reconnecting}`,
			`msg/s ${msgRate.toFixed(0)}`,
			`acks/s ${ackRate.toFixed(0)}`,
			`PUBACK p50 ${ms(p50)} p99 ${ms(p99)}`,
			`loop p99 ${ms(f.loopDelayP99())}`,
			`failures: ${failures || "none"}`,
		].join(" | ");
	}
}

function ms(x: number | undefined): string {
	return x === undefined ? "-" : `${x < 10 ? x.toFixed(1) : x.toFixed(0)} ms`;
}

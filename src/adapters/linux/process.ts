/*
 * System port on the Linux target, and the process's end.
 *
 * restart() ends the process with REBOOT_EXIT_CODE; the runner (npm run device:linux, the device
 * check) starts it again, as the board's reset would, with its preferences kept in files. A clean
 * stop (SIGINT/SIGTERM) exits 0. Before either, the XS memory figures are printed: with
 * `sampleMs`, the largest live heap seen by a sampler that collects garbage and measures every
 * sampleMs (the process's C side prints the high-water marks and the stack's deepest use itself).
 */

import { collect, exit, memory } from "linux/host";
import type { Clock, System } from "../../ports";

export const REBOOT_EXIT_CODE = 75;

/** Lets the restart message reach the terminal first, as on the board. */
const RESTART_DELAY_MS = 100;

export class LinuxProcess implements System {
	readonly #clock: Clock;
	#liveSlots = 0;
	#liveChunks = 0;
	#samples = 0;
	#exiting = false;

	constructor(options: { clock: Clock; sampleMs: number }) {
		this.#clock = options.clock;
		if (options.sampleMs > 0) options.clock.repeat(() => this.#sample(), options.sampleMs);
	}

	restart(reason: string): void {
		trace(`<warn>Restarting: ${reason}\n`);
		this.#clock.set(() => this.exit(REBOOT_EXIT_CODE), RESTART_DELAY_MS);
	}

	/** The board reports its free heap; this process has no such figure (XS's own is printed at exit). */
	freeMemory(): number | undefined {
		return undefined;
	}

	exit(code: number): void {
		if (this.#exiting) return;
		this.#exiting = true;
		if (this.#samples) {
			this.#sample();
			trace(`# xs live: slots max ${this.#liveSlots}, chunks max ${this.#liveChunks} bytes (${this.#samples} samples)\n`);
		}
		exit(code);
	}

	#sample(): void {
		collect();
		const m = memory();
		this.#samples++;
		if (m.slots > this.#liveSlots) this.#liveSlots = m.slots;
		if (m.chunks > this.#liveChunks) this.#liveChunks = m.chunks;
	}
}

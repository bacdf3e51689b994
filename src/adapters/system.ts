/*
 * System port: restart and free memory.
 *
 * Restart. The classic Moddable runtime has no restart function. The FFI route (declare
 * esp_restart in the manifest's "ffi" section, call it through mc/ffi) exists only in very recent
 * SDKs, which are built on ESP-IDF 5 and cannot build pins/rmt, which the DHT capture needs. So
 * by default restart() ends the JavaScript machine on purpose: it throws from a timer callback.
 * An exception that escapes a callback is "unhandled"; XS aborts the machine, and on the ESP32 the
 * abort handler calls esp_restart(). In a debug build xsbug first stops at the abort ("XS abort:
 * unhandled exception"); continuing restarts the board. If the board is still running a few
 * seconds later (an SDK that only logs such exceptions) the failure is traced and the device
 * carries on. Pass `restart` to use a native restart instead (see the README, "Restart").
 *
 * Free memory: Instrumentation "System Free Memory" (esp_get_free_heap_size()). Instrumentation is
 * compiled in for debug (-d) and instrumented (-i) builds only, and Instrumentation.map() (the
 * name lookup) exists only in recent SDKs; otherwise freeMemory() is undefined.
 */

import Instrumentation from "instrumentation";
import Timer from "timer";
import type { System } from "../ports";

const timers = Timer as unknown as { set(callback: () => void, interval: number): unknown };
const instrumentation = Instrumentation as unknown as {
	get(what: number): unknown;
	map?: (name: string) => number | undefined;
};

export interface ModdableSystemOptions {
	/** A native restart (e.g. FFI esp_restart); default: abort the XS machine. */
	restart?: () => void;
}

/** Lets the restart message reach the serial port before the chip resets. */
const RESTART_DELAY_MS = 100;
const STILL_RUNNING_MS = 5000;

export class ModdableSystem implements System {
	readonly #restart: (() => void) | undefined;
	readonly #freeMemoryIndex: number | undefined;

	constructor(options: ModdableSystemOptions = {}) {
		this.#restart = options.restart;
		let index: number | undefined;
		try {
			index = instrumentation.map?.("System Free Memory");
		}
		catch {
			index = undefined;
		}
		this.#freeMemoryIndex = typeof index === "number" ? index : undefined;
	}

	restart(reason: string): void {
		trace(`<warn>Restarting: ${reason}\n`);
		const native = this.#restart;
		timers.set(() => {
			if (native) {
				native();
				return;
			}
			timers.set(() => trace("<error>The restart did not happen: this SDK does not restart on an unhandled exception (see README, Restart)\n"), STILL_RUNNING_MS);
			throw new Error(`restart requested: ${reason}`);
		}, RESTART_DELAY_MS);
	}

	freeMemory(): number | undefined {
		if (this.#freeMemoryIndex === undefined) return undefined;
		try {
			const free = instrumentation.get(this.#freeMemoryIndex);
			return typeof free === "number" && free > 0 ? free : undefined;
		}
		catch {
			return undefined;
		}
	}
}

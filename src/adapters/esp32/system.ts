/*
 * System port on the ESP32: restart through the SDK's `System.restart()` (modules/io/system, which
 * calls esp_restart()), free heap through instrumentation (debug and instrumented builds only).
 *
 * The restart waits a moment so that the line announcing it reaches the serial port first.
 */

import "system";
import Timer from "timer";
import type { System } from "../../ports";
import { MemoryGauge } from "../memory";

declare const System: { restart(): void };

const timers = Timer as unknown as { set(callback: () => void, interval: number): unknown };

/** Lets the restart message reach the serial port before the chip resets. */
const RESTART_DELAY_MS = 100;

export class Esp32System implements System {
	readonly #memory = new MemoryGauge(["System Free Memory"]);

	restart(reason: string): void {
		trace(`<warn>Restarting: ${reason}\n`);
		timers.set(() => System.restart(), RESTART_DELAY_MS);
	}

	freeMemory(): number | undefined {
		return this.#memory.read("System Free Memory");
	}
}

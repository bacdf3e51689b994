/*
 * Button port for the BOOT button (GPIO 0 on ESP32-S3 boards; pressed pulls it low), polled every
 * 50 ms over Moddable's `pins/digital` with the internal pull-up. A press held for `ms` calls back
 * once; the button must be released before it can fire again.
 */

import Digital from "pins/digital";
import Timer from "timer";
import type { Button } from "../../ports";

const POLL_MS = 50;
const timers = Timer as unknown as { repeat(callback: () => void, ms: number): unknown; clear(id: unknown): void };

export class BootButton implements Button {
	readonly #io: Digital;
	#timer: unknown;

	constructor(options: { pin: number }) {
		this.#io = new Digital({ pin: options.pin, mode: Digital.InputPullUp });
	}

	onLongPress(ms: number, callback: () => void): void {
		if (this.#timer !== undefined) timers.clear(this.#timer);
		let heldMs = 0;
		let fired = false;
		this.#timer = timers.repeat(() => {
			const pressed = this.#io.read() === 0;
			if (!pressed) {
				heldMs = 0;
				fired = false;
				return;
			}
			heldMs += POLL_MS;
			if (heldMs >= ms && !fired) {
				fired = true;
				try {
					callback();
				}
				catch {
					// never into the timer
				}
			}
		}, POLL_MS);
	}

	close(): void {
		if (this.#timer !== undefined) timers.clear(this.#timer);
		this.#timer = undefined;
		(this.#io as unknown as { close(): void }).close();
	}
}

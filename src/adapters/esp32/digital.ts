/*
 * DigitalOutput port over Moddable's `pins/digital`: a GPIO that drives an LED or a relay.
 * `activeLow` is for parts wired to the supply (the pin sinks the current): 1 then drives the pin low.
 * The output starts off.
 */

import Digital from "pins/digital";
import type { DigitalOutput } from "../../ports";

export interface DigitalPinOptions {
	pin: number;
	activeLow?: boolean;
}

export class DigitalPinOutput implements DigitalOutput {
	readonly #io: Digital;
	readonly #activeLow: boolean;

	constructor(options: DigitalPinOptions) {
		this.#activeLow = options.activeLow === true;
		this.#io = new Digital({ pin: options.pin, mode: Digital.Output });
		this.write(0);
	}

	write(value: 0 | 1): void {
		const on = value === 1;
		this.#io.write(on !== this.#activeLow ? 1 : 0);
	}
}

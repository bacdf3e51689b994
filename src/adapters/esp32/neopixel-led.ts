/*
 * DigitalOutput port over Moddable's `neopixel` driver: the status LED as one WS2812 pixel, like
 * the RGB LED of the ESP32-S3-DevKitC-1 (GPIO 48 on v1.0 boards, GPIO 38 on v1.1). On shows a
 * configurable colour, off is black. The pixel is only sent when the state changes.
 *
 * The esp32s3 target runs its own rainbow on that LED unless the manifest sets
 * config.led.rainbow to false (platforms/esp32s3/manifest.json does).
 */

import NeoPixel from "neopixel";
import type { DigitalOutput } from "../../ports";

export interface NeoPixelLedOptions {
	pin: number;
	/** Red, green, blue, 0..255 each. */
	color: readonly [number, number, number];
	/** 0..255, applied by the driver. */
	brightness: number;
	/** Colour order of the part; "GRB" for WS2812. */
	order?: string;
}

export class NeoPixelLed implements DigitalOutput {
	readonly #pixel: NeoPixel;
	readonly #on: number;
	readonly #off: number;
	#value: 0 | 1 | undefined;

	constructor(options: NeoPixelLedOptions) {
		this.#pixel = new NeoPixel({ length: 1, pin: options.pin, order: options.order ?? "GRB" });
		this.#pixel.brightness = options.brightness;
		const [r, g, b] = options.color;
		this.#on = this.#pixel.makeRGB(r, g, b);
		this.#off = this.#pixel.makeRGB(0, 0, 0);
		this.write(0);
	}

	write(value: 0 | 1): void {
		if (value === this.#value) return;
		this.#value = value;
		this.#pixel.setPixel(0, value ? this.#on : this.#off);
		this.#pixel.update();
	}
}

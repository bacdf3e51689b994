/*
 * PulseCapture port for the DHT data line on the ESP32: the dht module's native receiver
 * (dht/esp32/dhtcapture: the start signal, then ESP-IDF's RMT receive driver records the reply)
 * polled by dht/receiver.
 *
 * - The receiver is set up once, before any read: it takes a free RMT receive channel (the driver
 *   chooses it; NeoPixel's transmit channel is unaffected) and makes the pin an open-drain output
 *   with the pull-up.
 * - A receiver that cannot be set up (no free RMT channel, a pin that cannot drive the line) does
 *   not stop the device: the reason, with the ESP-IDF error name, is traced once and every capture
 *   then fails with it, so the sensor reports it with each reading.
 */

import DhtRmtReceiver from "dht/esp32/dhtcapture";
import { ReceiverCapture } from "dht/receiver";
import type { DhtClock, Pulses } from "dht/capture";
import type { PulseCapture } from "../../ports";

export interface DhtCaptureOptions {
	/** GPIO of the DHT data line. */
	pin: number;
	clock: DhtClock;
}

export class DhtCapture implements PulseCapture {
	readonly #clock: DhtClock;
	#capture: ReceiverCapture | undefined;
	#error: string | undefined;

	constructor(options: DhtCaptureOptions) {
		this.#clock = options.clock;
		try {
			this.#capture = new ReceiverCapture({
				receiver: new DhtRmtReceiver({ pin: options.pin }),
				clock: options.clock,
				onCallbackError: (e) => trace(`<error>DHT capture callback threw: ${String(e)}\n`),
			});
		}
		catch (e) {
			this.#error = `DHT receiver on GPIO ${options.pin}: ${e instanceof Error ? e.message : String(e)}`;
			trace(`<error>${this.#error}\n`);
		}
	}

	capture(startLowUs: number, callback: (pulses: Pulses | undefined, error?: string) => void): void {
		if (this.#capture) return this.#capture.capture(startLowUs, callback);
		const error = this.#error ?? "DHT receiver closed";
		this.#clock.set(() => {
			try {
				callback(undefined, error);
			}
			catch (e) {
				trace(`<error>DHT capture callback threw: ${String(e)}\n`);
			}
		}, 0);
	}

	/** Frees the RMT channel and resets the pin; later captures fail. */
	close(): void {
		this.#capture?.close();
		this.#capture = undefined;
	}
}

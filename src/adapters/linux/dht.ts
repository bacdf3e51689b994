/*
 * PulseCapture port on the Linux target: no sensor, so the reply of a DHT in a room whose
 * temperature and humidity drift slowly (dht/simulated), as the board's receiver would record it,
 * decoded by the same driver as on the board.
 */

import type { Pulses } from "dht/capture";
import { encodeDhtBytes, type DhtModel } from "dht/decoder";
import { dhtPulseTrain, indoorModel, type DhtValues } from "dht/simulated";
import type { Clock, PulseCapture } from "../../ports";

/** A real sensor's reply ends about 5 ms after the start signal. */
const REPLY_MS = 5;

export class SimulatedDhtLine implements PulseCapture {
	readonly #clock: Clock;
	readonly #model: DhtModel;
	readonly #room: () => DhtValues;

	constructor(options: { clock: Clock; model: DhtModel }) {
		this.#clock = options.clock;
		this.#model = options.model;
		this.#room = indoorModel(options.clock);
	}

	capture(_startLowUs: number, callback: (pulses: Pulses | undefined, error?: string) => void): void {
		const { temperature, humidity } = this.#room();
		const pulses = dhtPulseTrain(encodeDhtBytes(this.#model, temperature, humidity));
		this.#clock.set(() => callback(pulses), REPLY_MS);
	}
}

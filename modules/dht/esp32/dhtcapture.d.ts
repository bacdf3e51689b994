/*
 * Types of the native DHT receiver (dhtcapture.js, dhtcapture.c), module "dht/esp32/dhtcapture".
 * It implements dht/receiver's DhtReceiver.
 */

export interface DhtRmtReceiverOptions {
	/** GPIO of the DHT data line (must be able to drive it: open drain with the pull-up). */
	pin: number;
}

export default class DhtRmtReceiver {
	/**
	 * Takes a free RMT receive channel on the pin and makes the pin an open-drain output with the
	 * pull-up, released. Throws an Error naming the esp_err_t when the driver refuses, e.g.
	 * "DHT: no free RMT RX channel (ESP_ERR_NOT_FOUND)"; a RangeError for a pin that cannot drive.
	 */
	constructor(options: DhtRmtReceiverOptions);
	/**
	 * Drives the line low for `startLowUs` (250..25000) microseconds, busy-waiting, then arms the
	 * receiver and releases the line. A receive still running is abandoned first.
	 */
	start(startLowUs: number): void;
	/**
	 * -1 while the reply has not ended. Then copies the received RMT symbols into `buffer`, two
	 * 16-bit little-endian entries per symbol (level << 15 | duration in µs), and returns how many
	 * entries it wrote; a later read() throws until the next start().
	 */
	read(buffer: Uint16Array | ArrayBuffer): number;
	/** Abandons a receive that has not ended (the line never moved); the channel stays ready. */
	abort(): void;
	/** Frees the RMT channel and resets the pin; later calls but close() throw. */
	close(): void;
}

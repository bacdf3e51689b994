/*
 * The DHT's data line on the ESP32 family: the start signal and an RMT receiver for the reply
 * (dhtcapture.c). Typed by dhtcapture.d.ts; dht/receiver turns what read() returns into pulses and
 * polls it.
 *
 *	const receiver = new DhtRmtReceiver({pin: 4});
 *	receiver.start(1100);			// line low 1100 us, then released; receiving
 *	const entries = new Uint16Array(128);
 *	const count = receiver.read(entries);	// -1 until the reply has ended
 *	receiver.abort();			// gives up a receive that never ended
 *	receiver.close();
 */

class DhtRmtReceiver @ "xs_dhtcapture_destructor" {
	constructor(options) @ "xs_dhtcapture";
	start(startLowUs) @ "xs_dhtcapture_start";
	read(buffer) @ "xs_dhtcapture_read";
	abort() @ "xs_dhtcapture_abort";
	close() @ "xs_dhtcapture_close";
}
Object.freeze(DhtRmtReceiver.prototype);

export default DhtRmtReceiver;

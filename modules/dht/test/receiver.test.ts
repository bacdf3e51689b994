import test from "ava";
import { DHT, type DhtReading, type DhtStatus } from "dht";
import type { Pulses } from "dht/capture";
import { decodeDht, encodeDhtBytes } from "dht/decoder";
import { ENTRIES, POLL_MS, ReceiverCapture, TIMEOUT_MS, receiverPulses, type DhtReceiver } from "dht/receiver";
import { VirtualTime } from "../../../test-host/adapters/clock";
import { dhtPulseTrain } from "../../../test-host/adapters/dht-sim";

/** One receiver entry: level << 15 | duration. */
const entry = (level: 0 | 1, us: number) => (level << 15) | us;

/**
 * The entries an RMT receiver stores for a reply: armed with the line low, it starts at the host's
 * release, so the first level is the idle high before the sensor answers; then the sensor's
 * durations, the idle high after it, and a zero duration ending the frame.
 */
function rmtEntries(train: Pulses, idleBeforeUs = 32): number[] {
	const out = [entry(1, idleBeforeUs)];
	let level = train.phase;
	for (let i = 0; i < train.durations.length; i++) {
		out.push(entry(level, train.durations[i]));
		level = level ? 0 : 1;
	}
	out.push(entry(1, 200), entry(0, 0));
	if (out.length % 2) out.push(entry(0, 0));
	return out;
}

type Result = { pulses: Pulses | undefined; error: string | undefined; at: number };

/** A receiver whose frame ends `afterMs` after start(), with `entries` (or never, when undefined). */
class FakeReceiver implements DhtReceiver {
	entries: number[] | undefined;
	afterMs: number;
	starts: number[] = [];
	reads = 0;
	aborts = 0;
	closed = 0;
	startError: Error | undefined;
	readError: Error | undefined;
	#armedAt: number | undefined;
	readonly #now: () => number;

	constructor(now: () => number, entries: number[] | undefined, afterMs = 4) {
		this.#now = now;
		this.entries = entries;
		this.afterMs = afterMs;
	}

	start(startLowUs: number): void {
		if (this.startError) throw this.startError;
		this.starts.push(startLowUs);
		this.#armedAt = this.#now();
	}

	read(buffer: Uint16Array): number {
		this.reads++;
		if (this.readError) throw this.readError;
		if (this.#armedAt === undefined) throw new Error("DHT: no capture started");
		if (!this.entries || this.#now() - this.#armedAt < this.afterMs) return -1;
		this.#armedAt = undefined;
		const n = Math.min(this.entries.length, buffer.length);
		for (let i = 0; i < n; i++) buffer[i] = this.entries[i];
		return n;
	}

	abort(): void {
		this.aborts++;
		this.#armedAt = undefined;
	}

	close(): void {
		this.closed++;
	}
}

function setup(entries: number[] | undefined, afterMs?: number) {
	const time = new VirtualTime();
	const clock = time.clock();
	const receiver = new FakeReceiver(() => clock.now(), entries, afterMs);
	const thrown: unknown[] = [];
	const capture = new ReceiverCapture({ receiver, clock, onCallbackError: (e) => thrown.push(e) });
	const results: Result[] = [];
	const run = (startLowUs = 1100) => capture.capture(startLowUs, (pulses, error) => results.push({ pulses, error, at: clock.now() }));
	return { time, clock, receiver, capture, results, run, thrown };
}

const frame = (t: number, h: number) => dhtPulseTrain(encodeDhtBytes("dht22", t, h));

test("receiverPulses: entries to alternating durations, the first level as phase", (t) => {
	t.deepEqual(receiverPulses([entry(1, 30), entry(0, 80), entry(1, 80), entry(0, 50)], 4), { phase: 1, durations: [30, 80, 80, 50] });
	t.deepEqual(receiverPulses([entry(0, 12), entry(1, 80)], 2), { phase: 0, durations: [12, 80] });
});

test("receiverPulses: a zero duration ends the frame, count and length bound it", (t) => {
	const entries = [entry(1, 30), entry(0, 80), entry(1, 0), entry(0, 99)];
	t.deepEqual(receiverPulses(entries, 4), { phase: 1, durations: [30, 80] });
	t.deepEqual(receiverPulses(entries, 1), { phase: 1, durations: [30] });
	t.deepEqual(receiverPulses(entries, 99), { phase: 1, durations: [30, 80] });
	t.deepEqual(receiverPulses(entries, 0), { phase: 1, durations: [] });
	t.deepEqual(receiverPulses(new Uint16Array(0), 10), { phase: 1, durations: [] });
});

test("receiverPulses: an entry at the level of the previous one lengthens it", (t) => {
	t.deepEqual(receiverPulses([entry(1, 30), entry(1, 5), entry(0, 80), entry(0, 2), entry(1, 7)], 5), { phase: 1, durations: [35, 82, 7] });
});

test("receiverPulses: durations use 15 bits, the top bit is the level", (t) => {
	t.deepEqual(receiverPulses(Uint16Array.of(0xffff, 0x7fff), 2), { phase: 1, durations: [0x7fff, 0x7fff] });
});

test("an RMT capture of a reply decodes, whatever precedes the preamble", (t) => {
	for (const idle of [1, 20, 40]) {
		for (const [temperature, humidity] of [[21.4, 48.7], [-12.3, 99.9], [0, 0.1]]) {
			const entries = rmtEntries(frame(temperature, humidity), idle);
			t.true(entries.length <= ENTRIES, "fits the receiver's buffer");
			const result = decodeDht("dht22", receiverPulses(Uint16Array.from(entries), entries.length));
			t.like(result, { ok: true, temperature, humidity }, `${temperature} °C, ${humidity} %, idle ${idle} µs`);
		}
	}
});

test("a capture calls back once, later, with the frame's pulses", (t) => {
	const entries = rmtEntries(frame(23.5, 40.2));
	const s = setup(entries, 7);
	s.run(1100);
	t.deepEqual(s.results, [], "never from capture()");
	t.deepEqual(s.receiver.starts, [1100]);
	s.time.advance(100);
	t.is(s.results.length, 1);
	t.is(s.results[0].error, undefined);
	t.is(s.results[0].at, 2 * POLL_MS, "the poll after the frame ended");
	t.deepEqual(s.results[0].pulses, receiverPulses(entries, entries.length));
	t.is(s.receiver.aborts, 0);
});

test("no end of frame: the receive is abandoned after the timeout and the capture fails", (t) => {
	const s = setup(undefined);
	s.run();
	s.time.advance(TIMEOUT_MS + 20);
	t.is(s.results.length, 1);
	t.is(s.results[0].pulses, undefined);
	t.regex(s.results[0].error ?? "", /no end of frame within 50 ms/);
	t.true(s.results[0].at >= TIMEOUT_MS && s.results[0].at < TIMEOUT_MS + POLL_MS);
	t.is(s.receiver.aborts, 1);
	s.time.advance(1000);
	t.is(s.results.length, 1, "once");
});

test("start() throwing becomes an error callback, later, and the next capture runs", (t) => {
	const s = setup(rmtEntries(frame(20, 50)));
	s.receiver.startError = new RangeError("DHT: start pulse 99999 us outside 250..25000 us");
	s.run(99999);
	t.deepEqual(s.results, []);
	s.time.advance(1);
	t.is(s.results.length, 1);
	t.is(s.results[0].error, "start signal: DHT: start pulse 99999 us outside 250..25000 us");
	s.receiver.startError = undefined;
	s.run();
	s.time.advance(50);
	t.is(s.results.length, 2);
	t.is(s.results[1].error, undefined);
	t.like(decodeDht("dht22", s.results[1].pulses!), { ok: true, temperature: 20, humidity: 50 });
});

test("read() throwing fails the capture and abandons the receive", (t) => {
	const s = setup(rmtEntries(frame(20, 50)));
	s.receiver.readError = new Error("DHT: closed");
	s.run();
	s.time.advance(50);
	t.is(s.results.length, 1);
	t.is(s.results[0].error, "receiver read: DHT: closed");
	t.is(s.receiver.aborts, 1);
});

test("one capture at a time: a second one during the first fails, the first completes", (t) => {
	const s = setup(rmtEntries(frame(20, 50)));
	s.run();
	s.run();
	s.time.advance(50);
	t.is(s.results.length, 2);
	t.is(s.results[0].error, "a capture is already running");
	t.is(s.results[1].error, undefined);
	t.deepEqual(s.receiver.starts, [1100]);
});

test("an exception thrown by the callback does not leave the timer", (t) => {
	const s = setup(rmtEntries(frame(20, 50)));
	const boom = new Error("boom");
	s.capture.capture(1100, () => {
		throw boom;
	});
	t.notThrows(() => s.time.advance(50));
	t.deepEqual(s.thrown, [boom]);
	s.receiver.startError = new Error("no");
	s.capture.capture(1100, () => {
		throw boom;
	});
	t.notThrows(() => s.time.advance(50));
	t.deepEqual(s.thrown, [boom, boom]);
});

test("close() abandons the capture in progress, closes the receiver, and later captures fail", (t) => {
	const s = setup(undefined);
	s.run();
	s.time.advance(POLL_MS);
	s.capture.close();
	t.is(s.receiver.aborts, 1);
	t.is(s.receiver.closed, 1);
	t.deepEqual(s.results, []);
	s.time.advance(1);
	t.is(s.results.length, 1);
	t.is(s.results[0].error, "capture closed");
	s.run();
	s.time.advance(100);
	t.is(s.results.length, 2);
	t.is(s.results[1].error, "capture closed");
	t.is(s.receiver.starts.length, 1);
	s.capture.close();
	t.is(s.receiver.closed, 1, "once");
});

test("the DHT driver reads through a receiver capture", (t) => {
	const time = new VirtualTime();
	const clock = time.clock();
	const receiver = new FakeReceiver(() => clock.now(), rmtEntries(frame(-3.4, 61.3)));
	const dht = new DHT({ sensor: { capture: new ReceiverCapture({ receiver, clock }) }, clock });
	const got: { reading: DhtReading | undefined; status: DhtStatus }[] = [];
	dht.sample((reading, status) => got.push({ reading, status }));
	time.advance(100);
	t.deepEqual(got, [{ reading: { thermometer: { temperature: -3.4 }, hygrometer: { humidity: 61.3 } }, status: { ok: true, attempts: 1 } }]);
	t.deepEqual(receiver.starts, [1100]);
	// No sensor: the receiver records only the idle high after the release.
	receiver.entries = [entry(1, 200), entry(0, 0)];
	dht.sample((reading, status) => got.push({ reading, status }));
	time.advance(10_000);
	t.is(got.length, 2);
	t.like(got[1], { reading: undefined, status: { ok: false, error: "no_response", attempts: 2 } });
});

import test from "ava";
import type { PulseCapture, Pulses } from "dht/capture";
import { DHT, type DhtError, type DhtModel, type DhtReading, type DhtStatus } from "dht";
import { VirtualTime } from "../../../test-host/adapters/clock";
import { SimulatedDht, indoorModel, seededRandom, type DhtValues } from "../../../test-host/adapters/dht-sim";

interface Result {
	reading: DhtReading | undefined;
	status: DhtStatus;
	at: number;
}

function setup(options: { model?: DhtModel; sensorModel?: DhtModel; values?: DhtValues; seed?: number } = {}) {
	const time = new VirtualTime();
	const clock = time.clock();
	let values: DhtValues = options.values ?? { temperature: 21.4, humidity: 48.7 };
	const sim = new SimulatedDht({
		clock,
		model: options.sensorModel ?? options.model ?? "dht22",
		reading: () => values,
		random: seededRandom(options.seed ?? 1),
	});
	// Capture spy: when each capture started and with which start pulse.
	const captures: { at: number; startLowUs: number }[] = [];
	let beforeCapture: ((n: number) => void) | undefined;
	const spy: PulseCapture = {
		capture(startLowUs, callback) {
			captures.push({ at: clock.now(), startLowUs });
			beforeCapture?.(captures.length);
			sim.capture(startLowUs, callback);
		},
	};
	const errors: DhtError[] = [];
	const dht = new DHT({ sensor: { capture: spy }, clock, model: options.model, onError: (e) => errors.push(e) });
	const results: Result[] = [];
	const sample = () => dht.sample((reading, status) => results.push({ reading, status, at: clock.now() }));
	return {
		time,
		clock,
		sim,
		dht,
		captures,
		errors,
		results,
		sample,
		setValues: (v: DhtValues) => (values = v),
		/** Runs fn before capture n (1-based) reaches the simulator. */
		onCapture: (fn: (n: number) => void) => (beforeCapture = fn),
	};
}

test("a normal read returns the sensor's values to 0.1, asynchronously", (t) => {
	const s = setup({ values: { temperature: -3.44, humidity: 61.26 } });
	s.sample();
	t.is(s.results.length, 0, "never called back from inside sample()");
	s.time.advance(50);
	t.is(s.results.length, 1);
	t.deepEqual(s.results[0].reading, { thermometer: { temperature: -3.4 }, hygrometer: { humidity: 61.3 } });
	t.deepEqual(s.results[0].status, { ok: true, attempts: 1 });
	t.is(s.captures.length, 1);
	t.is(s.captures[0].startLowUs, 1100);
	t.deepEqual(s.errors, []);
});

test("the simulator's drifting indoor model reads back through the driver", (t) => {
	const time = new VirtualTime();
	const clock = time.clock();
	const model = indoorModel(clock);
	const sim = new SimulatedDht({ clock, reading: model, jitterUs: 12 });
	const dht = new DHT({ sensor: { capture: sim }, clock });
	const seen: number[] = [];
	for (let i = 0; i < 30; i++) {
		const expected = model();
		let got: DhtReading | undefined;
		dht.sample((r) => (got = r));
		time.advance(100);
		t.truthy(got, `read ${i}`);
		t.is(got?.thermometer.temperature, Math.round(expected.temperature * 10) / 10);
		t.is(got?.hygrometer.humidity, Math.round(expected.humidity * 10) / 10);
		seen.push(got!.thermometer.temperature);
		time.advance(2 * 60_000);
	}
	t.true(Math.max(...seen) - Math.min(...seen) > 1, "the temperature drifts over an hour");
	t.true(Math.max(...seen) <= 24 && Math.min(...seen) >= 21);
});

test("the minimum interval is enforced: an early sample waits, it is not refused", (t) => {
	const s = setup();
	s.sample();
	s.time.advance(10);
	t.is(s.results.length, 1);
	s.sample(); // 10 ms after the first read started
	s.time.advance(1980);
	t.is(s.captures.length, 1, "no capture before 2000 ms");
	t.is(s.results.length, 1);
	s.time.advance(100);
	t.is(s.captures.length, 2);
	t.true(s.captures[1].at - s.captures[0].at >= 2000);
	t.is(s.results.length, 2);
	t.true(s.results[1].status.ok);
	// Late enough: starts at once.
	s.time.advance(5000);
	const before = s.clock.now();
	s.sample();
	s.time.advance(0);
	t.is(s.captures.length, 3);
	t.is(s.captures[2].at, before);
});

test("back-to-back samples: the second capture starts 2000 ms after the first", (t) => {
	const s = setup();
	// The next sample is asked for from the first one's callback, as soon as it has a result.
	s.dht.sample(() => s.sample());
	s.time.advance(10_000);
	t.deepEqual(
		s.captures.map((c) => c.at),
		[0, 2000],
	);
	t.is(s.results.length, 1);
	t.true(s.results[0].status.ok);
});

test("samples during a read share its result and start no second capture", (t) => {
	const s = setup();
	s.sample();
	s.sample();
	s.time.advance(2);
	s.sample();
	s.time.advance(100);
	t.is(s.captures.length, 1);
	t.is(s.results.length, 3);
	t.is(s.results[1].reading, s.results[0].reading);
	t.is(s.results[2].reading, s.results[0].reading);
});

test("one failed read is retried after the minimum interval, then succeeds", (t) => {
	const s = setup();
	s.onCapture((n) => (s.sim.faults = n === 1 ? { noResponse: 1 } : {}));
	s.sample();
	s.time.advance(1000);
	t.is(s.results.length, 0, "still waiting for the retry");
	s.time.advance(2000);
	t.is(s.captures.length, 2);
	t.is(s.captures[1].at - s.captures[0].at, 2000);
	t.is(s.results.length, 1);
	t.deepEqual(s.results[0].status, { ok: true, attempts: 2 });
	t.deepEqual(s.results[0].reading, { thermometer: { temperature: 21.4 }, hygrometer: { humidity: 48.7 } });
	t.deepEqual(s.errors, []);
});

test("two failures give undefined, the reason and onError; a previous value is never re-published", (t) => {
	const s = setup();
	s.sample();
	s.time.advance(100);
	t.true(s.results[0].status.ok);
	t.truthy(s.results[0].reading);
	s.sim.faults = { badChecksum: 1 };
	s.setValues({ temperature: 30, humidity: 30 });
	s.time.advance(5000);
	s.sample();
	s.time.advance(10_000);
	t.is(s.captures.length, 3);
	t.is(s.results.length, 2);
	const failed = s.results[1];
	t.is(failed.reading, undefined);
	t.like(failed.status, { ok: false, error: "checksum", attempts: 2 });
	if (!failed.status.ok) t.true(failed.status.detail.length > 0);
	t.is(s.errors.length, 1);
	t.like(s.errors[0], { error: "checksum", attempts: 2 });
	// And the driver recovers afterwards, with the new value.
	s.sim.faults = {};
	s.sample();
	s.time.advance(10_000);
	t.deepEqual(s.results[2].reading, { thermometer: { temperature: 30 }, hygrometer: { humidity: 30 } });
});

test("each kind of fault fails the sample with its own error", (t) => {
	const cases = [
		[{ noResponse: 1 }, "no_response"],
		[{ flipBit: 1 }, "checksum"],
		[{ dropEdge: 1 }, "missing_edges"],
		[{ badChecksum: 1 }, "checksum"],
	] as const;
	for (const [faults, error] of cases) {
		const s = setup();
		s.sim.faults = { ...faults };
		s.sample();
		s.time.advance(10_000);
		t.is(s.results.length, 1);
		t.is(s.results[0].reading, undefined);
		t.like(s.results[0].status, { ok: false, error, attempts: 2 }, JSON.stringify(faults));
	}
});

test("an implausible 1 °C / 1 % read is not published", (t) => {
	const s = setup({ values: { temperature: 1, humidity: 1 } });
	s.sample();
	s.time.advance(10_000);
	t.is(s.results[0].reading, undefined);
	t.like(s.results[0].status, { ok: false, error: "implausible" });
});

test("DHT11: 20 ms start pulse and 1000 ms between reads", (t) => {
	const s = setup({ model: "dht11", values: { temperature: -5.3, humidity: 33 } });
	s.sample();
	s.time.advance(50);
	t.deepEqual(s.results[0]?.reading, { thermometer: { temperature: -5.3 }, hygrometer: { humidity: 33 } });
	t.true(s.captures[0].startLowUs >= 18000);
	s.sample();
	s.time.advance(5000);
	t.is(s.captures[1].at - s.captures[0].at, 1000);
	t.true(s.results[1].status.ok);
});

test("a DHT11 driven as a DHT22 (start pulse too short) does not answer; configure() fixes it", (t) => {
	const s = setup({ model: "dht22", sensorModel: "dht11" });
	s.sample();
	s.time.advance(10_000);
	t.like(s.results[0].status, { ok: false, error: "no_response" });
	s.dht.configure({ model: "dht11" });
	t.is(s.dht.model, "dht11");
	s.sample();
	s.time.advance(10_000);
	t.true(s.results[1].status.ok);
	t.is(s.captures.at(-1)?.startLowUs, 20000);
	t.throws(() => s.dht.configure({ model: "dht33" as DhtModel }), { instanceOf: RangeError });
});

test("close() cancels a delayed read and an in-flight capture; no callback afterwards", (t) => {
	const s = setup();
	s.sample();
	s.time.advance(10);
	s.sample(); // waits for the interval
	t.is(s.time.pendingTimers, 1, "the delayed start");
	s.dht.close();
	t.is(s.time.pendingTimers, 0, "close() cleared it");
	s.time.advance(10_000);
	t.is(s.captures.length, 1, "the delayed capture never started");
	t.is(s.results.length, 1);

	const u = setup();
	u.sim.faults = { noResponse: 1 };
	u.sample();
	u.time.advance(1); // capture in flight
	u.dht.close();
	u.time.advance(10_000);
	t.is(u.results.length, 0);
	t.is(u.errors.length, 0);
	t.is(u.captures.length, 1, "no retry after close");
	u.sample();
	u.time.advance(10_000);
	t.is(u.results.length, 0, "sample() after close() is ignored");
	t.is(u.time.pendingTimers, 0);
});

test("capture errors and throwing captures become a 'capture' status, sample() never throws", (t) => {
	const time = new VirtualTime();
	const clock = time.clock();
	let mode: "error" | "throw" | "silent" = "error";
	const capture: PulseCapture = {
		capture(_us, callback: (pulses: Pulses | undefined, error?: string) => void) {
			if (mode === "throw") throw new Error("rmt busy");
			if (mode === "error") clock.set(() => callback(undefined, "rmt overflow"), 3);
		},
	};
	const errors: DhtError[] = [];
	const dht = new DHT({ sensor: { capture }, clock, onError: (e) => errors.push(e) });
	const statuses: DhtStatus[] = [];
	dht.sample((_r, status) => statuses.push(status));
	time.advance(10_000);
	t.deepEqual(statuses[0], { ok: false, error: "capture", detail: "rmt overflow", attempts: 2 });
	mode = "throw";
	t.notThrows(() => dht.sample((_r, status) => statuses.push(status)));
	time.advance(10_000);
	t.like(statuses[1], { ok: false, error: "capture", attempts: 2 });
	if (!statuses[1].ok) t.regex(statuses[1].detail, /rmt busy/);
	mode = "silent"; // never calls back: the watchdog ends the read
	dht.sample((_r, status) => statuses.push(status));
	time.advance(10_000);
	t.like(statuses[2], { ok: false, error: "capture", attempts: 2 });
	t.is(errors.length, 3);
});

test("a capture that calls back twice is counted once", (t) => {
	const time = new VirtualTime();
	const clock = time.clock();
	const sim = new SimulatedDht({ clock, reading: () => ({ temperature: 20, humidity: 50 }) });
	let captures = 0;
	// Reports an error, then (late, a duplicate) good pulses: only the first report counts.
	const capture: PulseCapture = {
		capture(us, callback) {
			captures++;
			clock.set(() => callback(undefined, "overflow"), 2);
			sim.capture(us, callback);
		},
	};
	const dht = new DHT({ sensor: { capture }, clock });
	const statuses: DhtStatus[] = [];
	dht.sample((_r, status) => statuses.push(status));
	time.advance(10_000);
	t.is(captures, 2, "the first error led to one retry");
	t.deepEqual(statuses, [{ ok: false, error: "capture", detail: "overflow", attempts: 2 }]);
});

test("the simulator is deterministic for a seed", (t) => {
	const run = (seed: number) => {
		const time = new VirtualTime();
		const clock = time.clock();
		const sim = new SimulatedDht({ clock, reading: () => ({ temperature: 20, humidity: 50 }), random: seededRandom(seed), faults: { dropEdge: 0.3, flipBit: 0.3 } });
		const out: number[][] = [];
		for (let i = 0; i < 5; i++) sim.capture(1100, (p) => out.push(Array.from(p!.durations)));
		time.advance(10);
		return out;
	};
	t.deepEqual(run(5), run(5));
	t.notDeepEqual(run(5), run(6));
});

/*
 * The host LED recorder lives as long as the simulated device: it must not grow with it.
 */

import test from "ava";
import { StatusLed } from "statusled";
import { VirtualTime } from "../adapters/clock";
import { LED_HISTORY, RecordingLed } from "../adapters/led";
import { mulberry32 } from "../adapters/prng";
import { World } from "../world";

const HOUR = 3_600_000;

test("24 simulated hours of a 5 Hz blink: the recorder keeps the last writes, counts all, answers exactly about recent ones", (t) => {
	const time = new VirtualTime();
	const clock = time.clock();
	const led = new RecordingLed(() => clock.now());
	const status = new StatusLed({ output: led, timers: clock });
	status.set("fast");
	time.advance(24 * HOUR);
	t.is(led.writes.length, LED_HISTORY, "only the last writes are kept");
	t.is(led.size, LED_HISTORY);
	t.is(led.writeCount, 1 + 24 * 36_000 + 1, "every write is counted: the first 0, the 1 of set(fast), then one every 100 ms");
	t.is(led.forgotten, led.writeCount - LED_HISTORY);
	t.is(led.changeCount, 24 * 36_000 + 1);
	const end = 24 * HOUR;
	t.is(led.transitions(end - 10_000, end), 100, "the last 10 s: exact");
	t.is(led.onTimeMs(end - 10_000, end), 5_000);
	t.is(led.redundantWrites(end - 10_000, end), 0);
	t.is(led.levelAt(end - 50), 0);
	t.is(led.levelAt(end - 150), 1);
	t.is(led.transitions(0, Infinity), led.changeCount, "since the start: exact from the counters");
	t.is(led.onTimeMs(0, end), 12 * HOUR, "lit half the time, over the whole day");
	t.throws(() => led.transitions(HOUR, 2 * HOUR), { instanceOf: RangeError, message: /keeps the last 4096 writes/ }, "the forgotten stretch is not guessed");
	t.throws(() => led.levelAt(HOUR), { instanceOf: RangeError });
});

test("a bounded recorder answers exactly as an unbounded one wherever it answers, and refuses only inside what it forgot", (t) => {
	const random = mulberry32(42);
	let answered = 0;
	for (let round = 0; round < 40; round++) {
		let now = 0;
		const small = new RecordingLed(() => now, 1 + Math.floor(random() * 8));
		const all = new RecordingLed(() => now, Number.MAX_SAFE_INTEGER);
		const writes = Math.floor(random() * 30);
		for (let i = 0; i < writes; i++) {
			now += random() < 0.3 ? 0 : Math.floor(random() * 50);
			const value = random() < 0.5 ? 0 : 1;
			small.write(value);
			all.write(value);
		}
		t.deepEqual(small.writes, all.writes.slice(-small.capacity));
		t.is(small.level, all.level);
		t.is(small.writeCount, all.writeCount);
		t.is(small.changeCount, all.changeCount);
		// Times the small recorder cannot speak about: after the first write, up to the last one it forgot.
		const forgotten = all.writes.slice(0, small.forgotten);
		const blind = (x: number, inclusive: boolean) =>
			forgotten.length > 0 && (inclusive ? x >= forgotten[0].atMs && x < forgotten.at(-1)!.atMs : x > forgotten[0].atMs && x <= forgotten.at(-1)!.atMs);
		for (let q = 0; q < 30; q++) {
			const a = Math.floor(random() * (now + 20)) - 10;
			const b = a + Math.floor(random() * (now + 20));
			for (const [name, ask, unknowable] of [
				["levelAt", (r: RecordingLed) => r.levelAt(a), blind(a, true)],
				["onTimeMs", (r: RecordingLed) => r.onTimeMs(a, b), b > a && (blind(a, false) || blind(b, false))],
				["transitions", (r: RecordingLed) => r.transitions(a, b), b > a && (blind(a, false) || blind(b, false))],
				["redundantWrites", (r: RecordingLed) => r.redundantWrites(a, b), b > a && (blind(a, false) || blind(b, false))],
			] as const) {
				if (unknowable) {
					t.throws(() => ask(small), { instanceOf: RangeError }, `${name}(${a}, ${b}) needs forgotten writes`);
					continue;
				}
				answered++;
				t.is(ask(small), ask(all), `${name}(${a}, ${b}), capacity ${small.capacity}, writes ${JSON.stringify(all.writes)}`);
			}
		}
	}
	t.true(answered > 2000, `${answered} answers compared`);
});

test("a simulated device left blinking for 24 hours (no access point): its LED recorders stay bounded", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ boot: false });
		d.sim.wifi.setAccessPoint(false);
		d.sim.boot();
		// Without WiFi there is no network I/O: virtual time can run without settling.
		world.time.advance(24 * HOUR);
		t.is(d.sim.device.supervisor.state, "WIFI");
		t.true(d.sim.led.writeCount > 100_000, `it blinked: ${d.sim.led.writeCount} writes`);
		t.true(d.sim.led.writes.length <= LED_HISTORY, `${d.sim.led.writes.length} writes kept`);
		t.true(d.sim.power.writes.length <= LED_HISTORY);
	}
	finally {
		await world.close();
	}
});

import test from "ava";
import { PATTERNS, StatusLed, isLedPattern, type LedPattern, type LedTimers } from "statusled";
import { VirtualTime } from "../../../test-host/adapters/clock";
import { RecordingLed } from "../../../test-host/adapters/led";

function setup(timers?: (clock: ReturnType<VirtualTime["clock"]>) => LedTimers) {
	const time = new VirtualTime();
	const clock = time.clock();
	const led = new RecordingLed(() => clock.now());
	const changes: LedPattern[] = [];
	const status = new StatusLed({ output: led, timers: timers ? timers(clock) : clock, onChange: (p) => changes.push(p) });
	return { time, clock, led, status, changes };
}

/** The writes that changed the level, within [fromMs, toMs), with times relative to fromMs. */
function edges(led: RecordingLed, fromMs: number, toMs: number): [number, 0 | 1][] {
	const out: [number, 0 | 1][] = [];
	let level: 0 | 1 = 0;
	for (const w of led.writes) {
		if (w.atMs >= toMs) break;
		if (w.atMs >= fromMs && w.value !== level) out.push([w.atMs - fromMs, w.value]);
		level = w.value;
	}
	return out;
}

/** Lengths of the intervals between consecutive level changes in the window. */
function holdTimes(led: RecordingLed, fromMs: number, toMs: number): number[] {
	const e = edges(led, fromMs, toMs);
	return e.slice(1).map(([at], i) => at - e[i][0]);
}

test("starts dark with one write of 0 and no timer; set(off) then does nothing", (t) => {
	const { time, led, status, changes } = setup();
	t.is(status.pattern, "off");
	t.deepEqual(led.writes, [{ atMs: 0, value: 0 }]);
	status.set("off");
	time.advance(5000);
	t.deepEqual(changes, []);
	t.is(led.writes.length, 1);
	t.is(time.pendingTimers, 0);
});

test("slow blink: 10 changes in 5 s, 500 ms each, 50 % duty", (t) => {
	const { time, led, status } = setup();
	time.advance(123);
	status.set("slow");
	time.advance(8000);
	t.is(led.transitions(1123, 6123), 10);
	t.is(led.onTimeMs(1123, 6123), 2500);
	t.deepEqual(new Set(holdTimes(led, 123, 8123)), new Set([500]));
	t.is(led.levelAt(123), 1, "lit at once");
});

test("fast blink: 50 changes in 5 s, 100 ms each, 50 % duty", (t) => {
	const { time, led, status } = setup();
	status.set("fast");
	time.advance(7000);
	t.is(led.transitions(1000, 6000), 50);
	t.is(led.onTimeMs(1000, 6000), 2500);
	t.deepEqual(new Set(holdTimes(led, 0, 7000)), new Set([100]));
});

test("on is constantly lit, with one write and no timer", (t) => {
	const { time, led, status } = setup();
	status.set("on");
	t.is(time.pendingTimers, 0);
	time.advance(10_000);
	t.is(led.onTimeMs(0, 10_000), 10_000);
	t.is(led.transitions(1, 10_000), 0);
	t.deepEqual(led.writes, [{ atMs: 0, value: 0 }, { atMs: 0, value: 1 }]);
});

test("off after a blink is constantly dark, with no timer", (t) => {
	const { time, led, status } = setup();
	status.set("fast");
	time.advance(250); // lit
	status.set("off");
	t.is(led.level, 0);
	t.is(time.pendingTimers, 0);
	const count = led.writes.length;
	time.advance(10_000);
	t.is(led.writes.length, count);
	t.is(led.onTimeMs(250, 10_250), 0);
});

test("error: three 100 ms flashes 100 ms apart, then 1000 ms dark, repeating", (t) => {
	const { time, led, status } = setup();
	time.advance(40);
	status.set("error");
	time.advance(10_000);
	const period: [number, 0 | 1][] = [[0, 1], [100, 0], [200, 1], [300, 0], [400, 1], [500, 0]];
	// One cycle is 500 ms of flashes and gaps plus 1000 ms dark.
	t.deepEqual(edges(led, 40, 40 + 1500), period);
	t.is(led.onTimeMs(40, 40 + 1500), 300);
	// The next cycles are the same, shifted by 1500 ms.
	for (let k = 1; k < 6; k++) t.deepEqual(edges(led, 40 + 1500 * k, 40 + 1500 * (k + 1)), period, `cycle ${k}`);
});

test("switching restarts the new pattern at once and the old timer never fires", (t) => {
	const { time, led, status, changes } = setup();
	status.set("slow");
	time.advance(250); // lit by slow
	status.set("fast");
	t.deepEqual(led.writes.at(-1), { atMs: 250, value: 1 }, "the first level is written even when unchanged");
	t.is(time.pendingTimers, 1);
	time.advance(800);
	const after = led.writes.filter((w) => w.atMs >= 250).map((w) => w.atMs);
	t.deepEqual(after, [250, 350, 450, 550, 650, 750, 850, 950, 1050]);
	status.set("error");
	t.deepEqual(led.writes.at(-1), { atMs: 1050, value: 1 });
	time.advance(1500);
	t.deepEqual(edges(led, 1050, 2550).map(([at]) => at), [0, 100, 200, 300, 400, 500]);
	t.deepEqual(changes, ["slow", "fast", "error"]);
});

test("onChange fires exactly once per change; the same pattern again is a no-op", (t) => {
	const { time, led, status, changes } = setup();
	const sequence: LedPattern[] = ["slow", "fast", "fast", "error", "slow", "slow", "on", "on", "off", "off"];
	for (const p of sequence) {
		status.set(p);
		t.is(status.pattern, p);
		time.advance(333);
	}
	t.deepEqual(changes, ["slow", "fast", "error", "slow", "on", "off"]);
	t.is(led.level, 0);
});

test("setting the running pattern again does not restart it", (t) => {
	const { time, led, status, changes } = setup();
	status.set("slow");
	time.advance(250);
	const count = led.writes.length;
	status.set("slow");
	t.is(led.writes.length, count, "no write");
	time.advance(1000);
	t.deepEqual(edges(led, 0, 1250).map(([at]) => at), [0, 500, 1000], "still on the original phase");
	t.deepEqual(changes, ["slow"]);
});

test("the output is written only when the level changes, apart from the first write of a pattern", (t) => {
	const { time, led, status } = setup();
	let forced = 0;
	for (const p of ["slow", "fast", "error", "on", "slow", "off", "error", "fast"] as const) {
		const start = time.now;
		const before = led.level;
		const count = led.writes.length;
		status.set(p);
		t.is(led.writes.length, count + 1, `${p}: one write at set()`);
		if (led.level === before) forced++;
		time.advance(3000);
		t.is(led.redundantWrites(start + 1, time.now + 1), 0, p);
	}
	t.true(forced > 0, "the sequence includes a set() that rewrites the same level");
	t.is(led.redundantWrites(0, time.now + 1), forced);
});

test("close stops the timer, leaves the LED dark and ignores later set()", (t) => {
	const { time, led, status, changes } = setup();
	status.set("fast");
	time.advance(250); // lit
	status.close();
	t.is(led.level, 0);
	t.deepEqual(led.writes.at(-1), { atMs: 250, value: 0 });
	t.is(time.pendingTimers, 0);
	t.is(status.pattern, "off");
	const count = led.writes.length;
	status.set("slow");
	status.close();
	time.advance(10_000);
	t.is(led.writes.length, count);
	t.is(time.pendingTimers, 0);
	t.deepEqual(changes, ["fast"]);
});

test("close while dark does not write again", (t) => {
	const { time, led, status } = setup();
	status.set("slow");
	time.advance(700); // dark
	const count = led.writes.length;
	status.close();
	t.is(led.writes.length, count);
	t.is(led.level, 0);
	t.is(time.pendingTimers, 0);
});

test("no timer leaks: at most one timer while blinking, none when steady or closed", (t) => {
	const { time, status } = setup();
	const names = Object.keys(PATTERNS) as LedPattern[];
	for (let i = 0; i < 200; i++) {
		const p = names[(i * 7) % names.length];
		status.set(p);
		t.true(time.pendingTimers <= 1);
		if (p === "on" || p === "off") t.is(time.pendingTimers, 0, p);
		time.advance(37 * (i % 11));
		t.true(time.pendingTimers <= 1);
	}
	status.close();
	t.is(time.pendingTimers, 0);
});

test("a cancelled timer that fires anyway has no effect", (t) => {
	// Timers whose clear() does nothing, like a callback already queued when it was cleared.
	const { time, led, status } = setup((clock) => ({ set: (cb, ms) => clock.set(cb, ms), clear: () => {} }));
	status.set("slow");
	time.advance(250);
	status.set("fast"); // slow's timer still fires at 500
	time.advance(800);
	t.deepEqual(
		led.writes.filter((w) => w.atMs >= 250).map((w) => w.atMs),
		[250, 350, 450, 550, 650, 750, 850, 950, 1050],
	);
	status.close();
	const count = led.writes.length;
	time.advance(5000);
	t.is(led.writes.length, count);
});

test("an unknown pattern throws a RangeError and changes nothing", (t) => {
	const { time, led, status, changes } = setup();
	status.set("slow");
	time.advance(100);
	const count = led.writes.length;
	const error = t.throws(() => status.set("blink" as LedPattern), { instanceOf: RangeError });
	t.regex(error!.message, /"blink"/);
	t.throws(() => status.set("toString" as LedPattern), { instanceOf: RangeError });
	t.is(status.pattern, "slow");
	t.is(led.writes.length, count);
	t.deepEqual(changes, ["slow"]);
	t.false(isLedPattern("constructor"));
	t.true(isLedPattern("error"));
});

test("PATTERNS is frozen data: steady patterns have one step, cycles positive durations", (t) => {
	t.true(Object.isFrozen(PATTERNS));
	for (const [name, cycle] of Object.entries(PATTERNS)) {
		t.true(Object.isFrozen(cycle), name);
		t.true(cycle.length >= 1, name);
		if (cycle.length > 1) for (const step of cycle) t.true(step.ms > 0, name);
	}
	t.throws(() => {
		(PATTERNS.slow[0] as { ms: number }).ms = 1;
	});
});

test("hold: updating shows over whatever set() asks, then the last pattern set() asked comes back", (t) => {
	const { time, led, status, changes } = setup();
	status.set("on");
	status.hold("updating");
	t.is(status.pattern, "updating");
	status.set("slow");
	status.set("fast");
	t.is(status.pattern, "updating", "set() while held changes nothing shown");
	const from = time.now;
	time.advance(2000);
	t.deepEqual(holdTimes(led, from, from + 2000), [50, 250, 50, 650, 50, 250, 50]);
	status.hold(undefined);
	t.is(status.pattern, "fast");
	t.deepEqual(changes, ["on", "updating", "fast"]);
	t.throws(() => status.hold("strobe" as LedPattern), { instanceOf: RangeError });
});

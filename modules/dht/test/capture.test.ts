import test from "ava";
import { unavailableCapture } from "dht/capture";

test("an unavailable capture fails every read, later, with its reason", (t) => {
	const timers: (() => void)[] = [];
	const capture = unavailableCapture({ set: (callback) => timers.push(callback) }, "no DHT data pin configured");
	const results: [unknown, string | undefined][] = [];
	capture.capture(1100, (pulses, error) => results.push([pulses, error]));
	t.deepEqual(results, [], "never from inside capture()");
	timers.forEach((fire) => fire());
	t.deepEqual(results, [[undefined, "no DHT data pin configured"]]);
});

/*
 * Shared by the benchmark's processes (test-host/bench/bench.ts, publisher.ts, subscriber.ts, sink.ts):
 * the workload, the messages they exchange over the IPC channel, and a clock that can be
 * compared across processes.
 */

/** The telemetry topic shape of the firmware's default ("smarthome") topic scheme. */
export const TELEMETRY_TOPIC = "smarthome/home1/sensor_a1b2c3d4e5f6/telemetry";
/** Measured messages go below this prefix; the subscriber counts them per topic. */
export const DATA_PREFIX = "bench/data/";
/** Warm-up messages go here: nobody subscribes, the broker drops them. */
export const WARMUP_TOPIC = "bench/warmup/sensor_a1b2c3d4e5f6/telemetry";
export const PAYLOAD_BYTES = 256;

/** A deterministic payload: what a JSON telemetry document of that size costs on the wire. */
export function makePayload(size = PAYLOAD_BYTES): Buffer {
	const text = '{"t":1732262400,"temperature":21.5,"humidity":48.2,"rssi":-61,"seq":0,"pad":"';
	const bytes = Buffer.alloc(size, 0x78);
	bytes.write(text.slice(0, size), 0, "latin1");
	if (size > text.length + 2) bytes.write('"}', size - 2, "latin1");
	return bytes;
}

/**
 * Milliseconds on a time line shared by every process of this machine (wall clock at process
 * start plus the monotonic clock since), so the subscriber's "last message received" can be set
 * against the publisher's "first publish".
 */
export function sharedNow(): number {
	return performance.timeOrigin + performance.now();
}

/** fixedHeader(): the fixed header is not all there yet. */
export const INCOMPLETE = -1;
/** fixedHeader(): a fifth remaining-length byte, which MQTT does not have. */
export const MALFORMED = -2;

/**
 * Reads the fixed header of the MQTT packet that starts at buf[i]: returns where its body starts
 * and puts its remaining length in `header.remaining`, or INCOMPLETE / MALFORMED. For the
 * subscriber's and the sink's framing (one `header` object per reader, reused).
 */
export function fixedHeader(buf: Uint8Array, i: number, header: { remaining: number }): number {
	let remaining = 0;
	let multiplier = 1;
	for (let j = i + 1; j < i + 5; j++) {
		if (j >= buf.length) return INCOMPLETE;
		const digit = buf[j];
		remaining += (digit & 0x7f) * multiplier;
		multiplier *= 128;
		if (!(digit & 0x80)) {
			header.remaining = remaining;
			return j + 1;
		}
	}
	return MALFORMED;
}

export type ClientName = "ours" | "mqttjs";

export interface PublisherJob {
	client: ClientName;
	qos: 0 | 1;
	/** Our client's inflight window (ignored for MQTT.js, which has none). */
	window: number;
	/**
	 * paced: publish until the client signals backpressure, resume when it clears.
	 * burst: (MQTT.js only) call publish() for every message in one synchronous loop.
	 */
	mode: "paced" | "burst";
	/**
	 * throughput: timed run, nothing else in the process.
	 * memory: untimed run with memory sampling and a forced GC when the last message is handed over
	 * (the child runs with a 1 MB young generation so that garbage hides little).
	 */
	purpose: "throughput" | "memory";
	messages: number;
	warmup: number;
	host: string;
	port: number;
	/** Measured messages go to this topic. */
	topic: string;
}

/** JS memory below is V8 heapUsed + arrayBuffers (Buffer and Uint8Array contents live outside the heap). */
export interface MemoryFigures {
	/** JS memory after warm-up and a full GC. */
	baseline: number;
	/** JS memory after a full GC at the moment the last publish() was accepted, minus the baseline. */
	liveAtHandover: number;
	/**
	 * The largest JS memory after a full GC, minus the baseline, over the hand-over and the moments
	 * the QoS 1 messages in flight reached 1024, 2048, 4096...
	 */
	peakLive: number;
	/** Largest JS memory sampled (every 2 ms and at hand-over, before the GC) during the run, minus the baseline. */
	peakGrowth: number;
	/** RSS after warm-up and a full GC. */
	rssBaseline: number;
	/** Peak RSS of the process (getrusage maxrss) when the run ended. */
	rssPeak: number;
}

export interface PublisherResult {
	job: PublisherJob;
	/** sharedNow() just before the first measured publish. */
	startedAt: number;
	/** sharedNow() when the last publish() was accepted. */
	publishedAt: number;
	/** QoS 1: sharedNow() of the last PUBACK. */
	ackedAt?: number;
	acked: number;
	/** Times publish was refused (ours) or the stream asked to wait for 'drain' (MQTT.js). */
	waits: { busy: number; inflightFull: number; drain: number };
	/** Largest number of QoS 1 messages sent and not yet acknowledged. */
	maxInflight: number;
	/** CPU time (user + system) of the publisher process from the first measured publish until the subscriber had every message, µs. */
	cpuMicros?: number;
	/** For purpose "memory". */
	memory?: MemoryFigures;
}

/** Parent to publisher: the subscriber has everything (or gave up); report and exit. */
export type ToPublisher = { type: "finish" } | { type: "go" };
/** Publisher to parent. */
export type FromPublisher =
	| { type: "ready" }
	| { type: "done"; publishedAt: number; ackedAt?: number }
	| { type: "result"; result: PublisherResult }
	| { type: "error"; message: string };

/** Parent to subscriber (subscriber.ts) or sink (sink.ts). */
export type ToSubscriber = { type: "expect"; topic: string; count: number } | { type: "count"; topic: string };
/** Subscriber (or sink) to parent. */
export type FromSubscriber =
	/** The sink (sink.ts) reports the port it listens on. */
	| { type: "ready"; port?: number }
	| { type: "complete"; topic: string; at: number }
	| { type: "count"; topic: string; count: number; lastAt: number }
	| { type: "error"; message: string };

/**
 * Messages counted per topic, and the answers to the bench's questions about them ("expect" ->
 * "complete" once the count is reached, "count" -> "count"): subscriber.ts and sink.ts alike.
 */
export class Arrivals {
	readonly #counts = new Map<string, number>();
	readonly #lastAt = new Map<string, number>();
	readonly #expected = new Map<string, number>();

	constructor(readonly send: (message: FromSubscriber) => void) {}

	/** `n` more messages on `topic`, the last of them at `at`. */
	add(topic: string, n: number, at: number): void {
		const count = (this.#counts.get(topic) ?? 0) + n;
		this.#counts.set(topic, count);
		this.#lastAt.set(topic, at);
		const want = this.#expected.get(topic);
		if (want !== undefined && count >= want) {
			this.#expected.delete(topic);
			this.send({ type: "complete", topic, at });
		}
	}

	answer(message: ToSubscriber): void {
		const { topic } = message;
		if (message.type === "expect") {
			if ((this.#counts.get(topic) ?? 0) >= message.count) this.send({ type: "complete", topic, at: this.#lastAt.get(topic) ?? sharedNow() });
			else this.#expected.set(topic, message.count);
		}
		else this.send({ type: "count", topic, count: this.#counts.get(topic) ?? 0, lastAt: this.#lastAt.get(topic) ?? 0 });
	}
}

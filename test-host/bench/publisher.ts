/*
 * Benchmark publisher, run as a child process by bench.ts (one process per run, so memory
 * figures and JIT state belong to one client alone). argv[2] is a PublisherJob as JSON.
 *
 * 1. Connects (MQTT 3.1.1, clean session) with our MQTTClient over nodeTcp + RealClock, or with
 *    MQTT.js.
 * 2. Warms up: `warmup` messages of the same QoS to a topic nobody subscribes to, then a QoS 1
 *    marker; its PUBACK means the broker has processed everything before it.
 * 3. Full GC, then publishes `messages` messages to job.topic as fast as the client allows,
 *    respecting its backpressure:
 *    - ours: publish() until it refuses; "busy" -> wait for onWritable, "inflight_full" ->
 *      wait for onDelivered.
 *    - MQTT.js, paced: publish() until its socket's write() reported a full buffer
 *      (stream.writableNeedDrain, which is when MQTT.js defers a QoS 0 callback), then wait
 *      for 'drain'. It has no inflight window.
 *    - MQTT.js, burst: every publish() in one synchronous loop, as most code calls it.
 * 4. Reports "done" (all accepted; for QoS 1 all PUBACKs received), waits for the parent's
 *    "finish" (the subscriber has everything), then reports timings (and memory) and exits.
 *
 * A memory run (job.purpose "memory") also samples heapUsed + arrayBuffers every 2 ms, and measures
 * them after a full GC at hand-over (the moment the last publish() was accepted) and whenever the
 * QoS 1 messages in flight reach 1024, 2048, 4096... to see what the client holds; its timings
 * are not reported.
 */

import mqtt from "mqtt";
import type { MqttClient } from "mqtt";
import { MQTTClient } from "mqttclient";
import { RealClock } from "../adapters/clock";
import { nodeTcp } from "../adapters/tcp";
import { makePayload, sharedNow, WARMUP_TOPIC } from "./common";
import type { FromPublisher, MemoryFigures, PublisherJob, PublisherResult, ToPublisher } from "./common";

const job = JSON.parse(process.argv[2] ?? "{}") as PublisherJob;
const payload = makePayload();
const clientId = `bench-${job.client}-q${job.qos}-${process.pid}`;

function send(message: FromPublisher): Promise<void> {
	return new Promise((resolve) => {
		if (!process.connected || !process.send) resolve();
		else process.send(message, undefined, {}, () => resolve());
	});
}

async function die(message: string): Promise<never> {
	await send({ type: "error", message: `publisher (${job.client}, QoS ${job.qos}): ${message}` });
	process.exit(1);
}

process.on("disconnect", () => process.exit(1));
process.on("uncaughtException", (e) => void die(e.stack ?? String(e)));
process.on("unhandledRejection", (e) => void die(e instanceof Error ? (e.stack ?? e.message) : String(e)));

/* Memory ------------------------------------------------------------------------------ */

function fullGc(): void {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (!gc) throw new Error("run with --expose-gc");
	gc();
	gc();
}

/** heapUsed + arrayBuffers: JS objects plus the contents of Buffers and Uint8Arrays. */
function jsMemory(): number {
	const m = process.memoryUsage();
	return m.heapUsed + m.arrayBuffers;
}

class MemoryProbe {
	baseline = 0;
	rssBaseline = 0;
	peak = 0;
	peakLive = 0;
	liveAtHandover = 0;
	/** Next number of QoS 1 messages in flight at which to measure live memory. */
	nextMark = 1024;
	#timer: ReturnType<typeof setInterval> | undefined;

	start(): void {
		fullGc();
		this.baseline = jsMemory();
		this.rssBaseline = process.memoryUsage.rss();
		this.peak = this.baseline;
		this.#timer = setInterval(() => this.sample(), 2);
	}

	sample(): void {
		const now = jsMemory();
		if (now > this.peak) this.peak = now;
	}

	/** Live JS memory now (after a full GC), over the baseline. */
	live(): number {
		this.sample();
		fullGc();
		const live = jsMemory() - this.baseline;
		if (live > this.peakLive) this.peakLive = live;
		return live;
	}

	/** The last message was handed to the client: what does it hold now? */
	handover(): void {
		this.liveAtHandover = this.live();
	}

	/** QoS 1: measure whenever the messages in flight reach 1024, 2048, 4096... */
	inflight(count: number): void {
		if (count < this.nextMark) return;
		this.nextMark *= 2;
		this.live();
	}

	stop(): MemoryFigures {
		this.sample();
		clearInterval(this.#timer);
		return {
			baseline: this.baseline,
			liveAtHandover: this.liveAtHandover,
			peakLive: this.peakLive,
			peakGrowth: this.peak - this.baseline,
			rssBaseline: this.rssBaseline,
			rssPeak: process.resourceUsage().maxRSS * 1024,
		};
	}
}

const probe = job.purpose === "memory" ? new MemoryProbe() : undefined;

/* One phase: `total` messages to `topic` ---------------------------------------------- */

interface Phase {
	topic: string;
	qos: 0 | 1;
	total: number;
	sent: number;
	acked: number;
	/** Set when the last publish() was accepted. */
	publishedAt: number;
	/** QoS 1: set at the last PUBACK. */
	ackedAt: number;
	resolve(): void;
}

const waits = { busy: 0, inflightFull: 0, drain: 0 };
let maxInflight = 0;
let measuring = false;

function noteInflight(phase: Phase): void {
	if (!measuring || phase.qos === 0) return;
	const inflight = phase.sent - phase.acked;
	if (inflight > maxInflight) maxInflight = inflight;
	probe?.inflight(inflight);
}

function newPhase(topic: string, qos: 0 | 1, total: number, resolve: () => void): Phase {
	return { topic, qos, total, sent: 0, acked: 0, publishedAt: 0, ackedAt: 0, resolve };
}

interface Driver {
	/** Publishes `total` messages; resolves when all were accepted and, for QoS 1, acknowledged. */
	run(topic: string, qos: 0 | 1, total: number): Promise<Phase>;
	close(): void;
}

/* Our client ---------------------------------------------------------------------------- */

async function ours(): Promise<Driver> {
	let phase: Phase | undefined;
	let pumping = false;
	let connected: (() => void) | undefined;
	let closing = false;

	const onPhaseAck = () => {
		const p = phase;
		if (!p) return;
		p.acked++;
		if (p.acked === p.total) {
			p.ackedAt = sharedNow();
			phase = undefined;
			p.resolve();
		}
		else pump();
	};

	const client = new MQTTClient({
		transport: nodeTcp,
		clock: new RealClock(),
		protocolVersion: 4,
		inflightWindow: job.window,
		onConnect: () => connected?.(),
		onClose: (info) => {
			if (!closing) void die(`connection closed: ${info.code}: ${info.message}`);
		},
		onDelivered: (_id, reasonCode) => {
			if (reasonCode >= 0x80) void die(`PUBACK reason code ${reasonCode}`);
			onPhaseAck();
		},
		onWritable: () => pump(),
		onWarning: (d) => void die(`warning ${d.code}: ${d.message}`),
	});

	function pump(): void {
		const p = phase;
		if (pumping || !p) return;
		pumping = true;
		try {
			while (p.sent < p.total) {
				const outcome = client.publish(p.topic, payload, { qos: p.qos });
				if (!outcome.ok) {
					const code = outcome.error.code;
					if (code === "busy") waits.busy++;
					else if (code === "inflight_full") waits.inflightFull++;
					else void die(`publish refused: ${code}: ${outcome.error.message}`);
					break;
				}
				p.sent++;
				noteInflight(p);
			}
		}
		finally {
			pumping = false;
		}
		if (p.sent === p.total && !p.publishedAt) {
			p.publishedAt = sharedNow();
			if (measuring) probe?.handover();
			if (p.qos === 0) {
				phase = undefined;
				p.resolve();
			}
		}
	}

	await new Promise<void>((resolve) => {
		connected = resolve;
		const outcome = client.connect({ host: job.host, port: job.port, clientId });
		if (!outcome.ok) void die(`connect refused: ${outcome.error.message}`);
	});

	return {
		run(topic, qos, total) {
			return new Promise((resolve) => {
				const p = newPhase(topic, qos, total, () => resolve(p));
				phase = p;
				pump();
			});
		},
		close: () => {
			closing = true;
			client.disconnect();
		},
	};
}

/* MQTT.js ------------------------------------------------------------------------------- */

async function mqttjs(): Promise<Driver> {
	const client: MqttClient = mqtt.connect({
		host: job.host,
		port: job.port,
		protocol: "mqtt",
		protocolVersion: 4,
		clientId,
		clean: true,
		keepalive: 60,
		reconnectPeriod: 0,
	});
	client.on("error", (e) => void die(`MQTT.js error: ${e.message}`));
	client.on("close", () => {
		if (!closing) void die("MQTT.js connection closed");
	});
	let closing = false;
	/** QoS 1 with a window set by the harness (job.window > 0). */
	let windowed = false;
	await new Promise<void>((resolve) => client.once("connect", () => resolve()));

	function acknowledger(p: Phase): (error?: Error) => void {
		const onAck = (error?: Error): void => {
			if (error) void die(`publish failed: ${error.message}`);
			p.acked++;
			if (p.acked === p.total) {
				p.ackedAt = sharedNow();
				p.resolve();
			}
			else if (windowed && p.sent < p.total && !client.stream.writableNeedDrain) pumpPaced(p, onAck);
		};
		return onAck;
	}

	function published(p: Phase): void {
		p.publishedAt = sharedNow();
		if (measuring) probe?.handover();
		if (p.qos === 0) p.resolve();
	}

	function pumpPaced(p: Phase, onAck: ((error?: Error) => void) | undefined): void {
		while (p.sent < p.total) {
			// A window set by the harness (MQTT.js has none): at most job.window QoS 1 messages in flight.
			if (windowed && p.sent - p.acked >= job.window) return;
			p.sent++;
			client.publish(p.topic, payload, { qos: p.qos }, onAck);
			noteInflight(p);
			if (client.stream.writableNeedDrain) {
				waits.drain++;
				client.stream.once("drain", () => pumpPaced(p, onAck));
				return;
			}
		}
		published(p);
	}

	function burst(p: Phase, onAck: ((error?: Error) => void) | undefined): void {
		while (p.sent < p.total) {
			p.sent++;
			client.publish(p.topic, payload, { qos: p.qos }, onAck);
			noteInflight(p);
		}
		published(p);
	}

	return {
		run(topic, qos, total) {
			return new Promise((resolve) => {
				const p = newPhase(topic, qos, total, () => resolve(p));
				// No callback for QoS 0: with one, MQTT.js adds a 'drain' listener per message
				// written while the socket buffer is full.
				const onAck = qos === 1 ? acknowledger(p) : undefined;
				windowed = qos === 1 && job.window > 0 && topic === job.topic;
				if (job.mode === "burst") burst(p, onAck);
				else pumpPaced(p, onAck);
			});
		},
		close: () => {
			closing = true;
			client.end(true);
		},
	};
}

/* Main ---------------------------------------------------------------------------------- */

async function main(): Promise<void> {
	let onGo: () => void = () => {};
	const go = new Promise<void>((resolve) => (onGo = resolve));
	const finish = new Promise<void>((resolve) => {
		process.on("message", (message: ToPublisher) => {
			if (message.type === "finish") resolve();
			else if (message.type === "go") onGo();
		});
	});
	const driver = job.client === "ours" ? await ours() : await mqttjs();

	if (job.warmup > 0) await driver.run(WARMUP_TOPIC, job.qos, job.warmup);
	await driver.run(WARMUP_TOPIC, 1, 1);

	if (probe) probe.start();
	else fullGc();
	// The parent reads the broker's and the subscriber's CPU time now, then lets the run start.
	await send({ type: "ready" });
	await go;
	measuring = true;
	const startedAt = sharedNow();
	const cpuBefore = process.cpuUsage();
	const p = await driver.run(job.topic, job.qos, job.messages);
	await send({ type: "done", publishedAt: p.publishedAt, ackedAt: job.qos === 1 ? p.ackedAt : undefined });
	await finish;
	const cpu = process.cpuUsage(cpuBefore);
	measuring = false;
	const result: PublisherResult = {
		job,
		startedAt,
		publishedAt: p.publishedAt,
		acked: p.acked,
		waits,
		maxInflight,
		cpuMicros: cpu.user + cpu.system,
	};
	if (probe) result.memory = probe.stop();
	if (job.qos === 1) result.ackedAt = p.ackedAt;
	driver.close();
	await send({ type: "result", result });
	process.exit(0);
}

void main();

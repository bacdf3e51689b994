/*
 * `npm run bench [-- options]`: throughput of our MQTT client against MQTT.js through one local
 * Mosquitto (the system's figures) and against a wire-speed MQTT end point, the sink (the
 * client's figures: the broker no longer sets the pace), and of our codec against mqtt-packet.
 * Prints everything; with --write also replaces the results block of docs/benchmarks.md (the
 * method is described there).
 *
 * Options:
 *   --messages N   measured messages per publish run (default 20000)
 *   --warmup N     warm-up messages before each measured run (default min(2000, messages))
 *   --runs N       repetitions of every publish run and of the codec set; medians are kept (default 3)
 *   --codec-ms N   minimum duration of one codec measurement in ms (default 1000)
 *   --no-codec     skip the codec benchmark
 *   --no-net       skip both publish sections (Mosquitto and sink)
 *   --no-sink      skip the client-bound publish section (the sink instead of Mosquitto)
 *   --sink-messages N  measured messages per publish run against the sink (default 5 × messages)
 *   --sink-warmup N    warm-up messages before each run against the sink (default max(warmup, sink messages / 5))
 *   --no-memory    skip the memory runs (one extra, untimed run per client configuration)
 *   --only K,K     only these publish scenarios (keys as in SCENARIOS), in both sections; without
 *                  it the sink section runs SINK_SCENARIOS
 *   --no-xs        skip the XS section (xsnap always; Moddable's Linux runtime when MODDABLE is set)
 *   --write        write the results into docs/benchmarks.md
 *
 * Processes: this one (orchestrator, codec benchmark), Mosquitto, a raw-socket subscriber
 * (subscriber.ts), then the sink (sink.ts), and one publisher process per run (publisher.ts).
 * All are stopped on exit, on failure and on Ctrl-C.
 */

import { fork, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import os, { loadavg } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { requireMosquitto, startMosquitto } from "../brokers/mosquitto";
import type { Mosquitto } from "../brokers/mosquitto";
import { median, runCodecBench, sampleJwt } from "./codec";
import type { CodecFigure } from "./codec";
import { DATA_PREFIX, PAYLOAD_BYTES } from "./common";
import { fleetSizes, runFleetBench } from "./fleet";
import type { FromPublisher, FromSubscriber, MemoryFigures, PublisherJob, PublisherResult, ToPublisher, ToSubscriber } from "./common";
import { median as xsMedian, runXsBench } from "./xs/run";
import type { XsFigures } from "./xs/run";
import { runLinuxBench } from "./xs/linux";
import type { LinuxFigures } from "./xs/linux";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const DOC = path.join(ROOT, "docs/benchmarks.md");
const BEGIN = "<!-- bench-results:begin -->";
const END = "<!-- bench-results:end -->";
/** Our window raised so it never limits, as MQTT.js has none: every packet identifier. */
const UNLIMITED_WINDOW = 65535;
const DEFAULT_WINDOW = 8;
/** Mosquitto settings added to the harness's config (see docs/benchmarks.md). */
const BROKER_CONFIG = [
	// The harness logs everything, a debug line per PUBLISH; keep the log to connections.
	"log_type none",
	"log_type error",
	"log_type warning",
	"log_type notice",
	"log_type information",
	// Never drop QoS 0 messages to a subscriber that is momentarily behind (default 1000).
	"max_queued_messages 0",
].join("\n");

/* Options --------------------------------------------------------------------------------- */

interface Options {
	messages: number;
	warmup: number;
	runs: number;
	codecMs: number;
	codec: boolean;
	net: boolean;
	memory: boolean;
	/** The client-bound section (publishers against sink.ts). */
	sink: boolean;
	/** Its measured and warm-up messages per run (see sectionOptions). */
	sinkMessages: number;
	sinkWarmup: number;
	write: boolean;
	/** Scenario keys to run (all when empty). */
	only: string[];
	xs: boolean;
}

function usage(problem: string): never {
	console.error(`${problem}\nusage: npm run bench -- [--messages N] [--warmup N] [--runs N] [--codec-ms N] [--only KEY,KEY] [--no-codec] [--no-net] [--no-sink] [--sink-messages N] [--sink-warmup N] [--no-memory] [--no-xs] [--write]`);
	process.exit(2);
}

function parseOptions(argv: string[]): Options {
	const o: Options = { messages: 20000, warmup: -1, runs: 3, codecMs: 1000, codec: true, net: true, memory: true, sink: true, sinkMessages: -1, sinkWarmup: -1, write: false, only: [], xs: true };
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
		const number = (min: number): number => {
			const text = inline ?? argv[++i];
			const value = Number(text);
			if (!Number.isInteger(value) || value < min) usage(`${flag} needs an integer >= ${min}, not ${String(text)}`);
			return value;
		};
		switch (flag) {
			case "--messages": o.messages = number(1); break;
			case "--warmup": o.warmup = number(0); break;
			case "--runs": o.runs = number(1); break;
			case "--codec-ms": o.codecMs = number(10); break;
			case "--no-codec": o.codec = false; break;
			case "--no-net": o.net = false; break;
			case "--no-memory": o.memory = false; break;
			case "--no-sink": o.sink = false; break;
			case "--sink-messages": o.sinkMessages = number(1); break;
			case "--sink-warmup": o.sinkWarmup = number(0); break;
			case "--write": o.write = true; break;
			case "--no-xs": o.xs = false; break;
			case "--only": o.only = (inline ?? argv[++i] ?? "").split(",").filter(Boolean); break;
			case "--help": case "-h": usage("npm run bench: MQTT client and codec benchmarks");
			default: usage(`unknown option ${arg}`);
		}
	}
	if (o.warmup < 0) o.warmup = Math.min(2000, o.messages);
	if (o.sinkMessages < 0) o.sinkMessages = 5 * o.messages;
	if (o.sinkWarmup < 0) o.sinkWarmup = Math.max(o.warmup, Math.round(o.sinkMessages / 5));
	const unknown = o.only.filter((key) => !SCENARIOS.some((s) => s.key === key));
	if (unknown.length) usage(`--only: no scenario ${unknown.join(", ")} (keys: ${SCENARIOS.map((s) => s.key).join(", ")})`);
	return o;
}

/* Machine ---------------------------------------------------------------------------------- */

interface Machine {
	date: string;
	cpu: string;
	cores: number;
	memoryGiB: number;
	os: string;
	node: string;
	mosquitto: string;
	load: string;
}

function mosquittoVersion(): string {
	const r = spawnSync("mosquitto", ["-h"], { encoding: "utf8" });
	const line = `${r.stdout ?? ""}${r.stderr ?? ""}`.split("\n").find((l) => l.trim());
	return line?.trim() ?? "mosquitto not found";
}

function cpuModel(): string {
	const model = os.cpus()[0]?.model?.trim();
	if (model) return model;
	try {
		const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
		if (match) return match[1].trim();
	} catch {
		// Not Linux.
	}
	return "unknown CPU";
}

function loadAverage(): string {
	return os.loadavg().map((l) => l.toFixed(2)).join(", ");
}

function machine(): Machine {
	return {
		date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
		cpu: cpuModel(),
		cores: os.availableParallelism?.() ?? os.cpus().length,
		memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
		os: `${os.type()} ${os.release()} ${os.arch()}`,
		node: process.version,
		mosquitto: mosquittoVersion(),
		load: loadAverage(),
	};
}

/* Formatting -------------------------------------------------------------------------------- */

function thousands(n: number): string {
	return Math.round(n).toLocaleString("en-US");
}

function mb(bytes: number): string {
	return (bytes / 1e6).toFixed(1);
}

function ratio(a: number, b: number): string {
	return b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
}

function table(header: string[], rows: string[][], align: ("l" | "r")[]): string {
	const lines = [`| ${header.join(" | ")} |`, `|${align.map((a) => (a === "r" ? "---:" : ":---")).join("|")}|`];
	for (const row of rows) lines.push(`| ${row.join(" | ")} |`);
	return lines.join("\n");
}

/* Processes --------------------------------------------------------------------------------- */

const children = new Set<ChildProcess>();
let broker: Mosquitto | undefined;

function forkTs(file: string, args: string[], nodeFlags: string[] = []): ChildProcess {
	// tsx's loader flags are in execArgv; the children need them (and gc for memory figures).
	const child = fork(path.join(HERE, file), args, {
		execArgv: [...process.execArgv, "--expose-gc", ...nodeFlags],
		stdio: ["ignore", "inherit", "inherit", "ipc"],
	});
	children.add(child);
	child.once("exit", () => children.delete(child));
	return child;
}

function killChildren(): void {
	for (const child of children) child.kill("SIGKILL");
	children.clear();
}

async function cleanUp(): Promise<void> {
	killChildren();
	const b = broker;
	broker = undefined;
	await b?.stop();
}

function exitOnSignal(signal: NodeJS.Signals): void {
	process.once(signal, () => {
		console.error(`\n${signal}: stopping`);
		killChildren();
		// The broker harness SIGKILLs its broker and removes its temp dir in its 'exit' handler.
		process.exit(130);
	});
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
	});
	return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/* Subscriber ------------------------------------------------------------------------------- */

/**
 * The process that counts what arrived: subscriber.ts behind Mosquitto, or sink.ts, which is the
 * publisher's server and counter at once. Both speak the same IPC protocol.
 */
class Subscriber {
	readonly #child: ChildProcess;
	readonly #waiters = new Map<string, (message: FromSubscriber) => void>();
	#failure: Error | undefined;
	/** The port the sink listens on (from its "ready" message). */
	#port: number | undefined;

	private constructor(child: ChildProcess) {
		this.#child = child;
	}

	/** subscriber.ts, subscribed to DATA_PREFIX/# on the broker at host:port. */
	static start(host: string, port: number): Promise<Subscriber> {
		return Subscriber.#start("subscriber.ts", [host, String(port)]);
	}

	/** sink.ts on 127.0.0.1, an ephemeral port. */
	static sink(): Promise<Subscriber> {
		return Subscriber.#start("sink.ts", []);
	}

	static async #start(file: string, args: string[]): Promise<Subscriber> {
		const child = forkTs(file, args);
		const subscriber = new Subscriber(child);
		const what = file.replace(/\.ts$/, "");
		const ready = new Promise<void>((resolve, reject) => {
			child.on("message", (message: FromSubscriber) => {
				if (message.type === "ready") {
					subscriber.#port = message.port;
					resolve();
				}
				else if (message.type === "error") {
					subscriber.#failure = new Error(message.message);
					reject(subscriber.#failure);
				}
				else subscriber.#waiters.get(`${message.type}:${message.topic}`)?.(message);
			});
			child.once("exit", (code) => {
				subscriber.#failure ??= new Error(`${what} exited with ${code}`);
				reject(subscriber.#failure);
			});
		});
		await withTimeout(ready, 15000, `${what} start`);
		return subscriber;
	}

	#send(message: ToSubscriber): void {
		if (this.#failure) throw this.#failure;
		this.#child.send(message);
	}

	#wait(kind: "complete" | "count", topic: string): Promise<FromSubscriber> {
		return new Promise((resolve) => {
			this.#waiters.set(`${kind}:${topic}`, (message) => {
				this.#waiters.delete(`${kind}:${topic}`);
				resolve(message);
			});
		});
	}

	/** Resolves with the time the `count`-th message on `topic` arrived. */
	expect(topic: string, count: number): Promise<number> {
		const done = this.#wait("complete", topic);
		this.#send({ type: "expect", topic, count });
		return done.then((m) => (m.type === "complete" ? m.at : 0));
	}

	async count(topic: string): Promise<{ count: number; lastAt: number }> {
		const answer = this.#wait("count", topic);
		this.#send({ type: "count", topic });
		const m = await withTimeout(answer, 5000, "subscriber count");
		return m.type === "count" ? m : { count: 0, lastAt: 0 };
	}

	get pid(): number | undefined {
		return this.#child.pid;
	}

	get port(): number | undefined {
		return this.#port;
	}

	get failure(): Error | undefined {
		return this.#failure;
	}
}

/* Publish runs -------------------------------------------------------------------------------- */

interface Scenario {
	key: string;
	client: "ours" | "mqttjs";
	qos: 0 | 1;
	window: number;
	mode: "paced" | "burst";
	label: string;
}

const SCENARIOS: Scenario[] = [
	{ key: "ours-q0", client: "ours", qos: 0, window: DEFAULT_WINDOW, mode: "paced", label: "ours, QoS 0" },
	{ key: "ours-q1-w8", client: "ours", qos: 1, window: DEFAULT_WINDOW, mode: "paced", label: `ours, QoS 1, window ${DEFAULT_WINDOW} (default)` },
	{ key: "ours-q1-wmax", client: "ours", qos: 1, window: UNLIMITED_WINDOW, mode: "paced", label: `ours, QoS 1, window ${UNLIMITED_WINDOW} (unlimited, as MQTT.js)` },
	{ key: "mqttjs-q0", client: "mqttjs", qos: 0, window: 0, mode: "paced", label: "MQTT.js, QoS 0, paced" },
	{ key: "mqttjs-q1", client: "mqttjs", qos: 1, window: 0, mode: "paced", label: "MQTT.js, QoS 1, paced" },
	{ key: "mqttjs-q1-w8", client: "mqttjs", qos: 1, window: DEFAULT_WINDOW, mode: "paced", label: `MQTT.js, QoS 1, ${DEFAULT_WINDOW} in flight (harness)` },
	{ key: "mqttjs-q0-burst", client: "mqttjs", qos: 0, window: 0, mode: "burst", label: "MQTT.js, QoS 0, burst" },
	{ key: "mqttjs-q1-burst", client: "mqttjs", qos: 1, window: 0, mode: "burst", label: "MQTT.js, QoS 1, burst" },
];

/**
 * The sink section's scenarios (without --only): the pairs the client's targets compare, QoS 0
 * and QoS 1 with 8 in flight each. The others measure how MQTT.js is driven, which the broker
 * section shows already; leaving them out keeps the bench's duration reasonable.
 */
const SINK_SCENARIOS = ["ours-q0", "mqttjs-q0", "ours-q1-w8", "mqttjs-q1-w8"];

/**
 * Where a section's publishers send. "mosquitto": the broker, with subscriber.ts counting what it
 * routes (the system's figures). "sink": sink.ts acknowledges and counts, routes nothing, so the
 * publisher is the only process that sets the pace (the client's figures).
 */
interface Endpoint {
	kind: "mosquitto" | "sink";
	host: string;
	port: number;
	counter: Subscriber;
	/** The process in the broker columns: Mosquitto, or the sink. */
	brokerPid: number | undefined;
	/** The subscriber (Mosquitto only; the sink counts in the broker's place). */
	subscriberPid: number | undefined;
}

interface RunFigure {
	scenario: Scenario;
	round: number;
	/** ms from the first publish to the end criterion (QoS 0: subscriber has all; QoS 1: last PUBACK). */
	elapsed: number;
	/** CPU ns of the broker (or sink) and of the subscriber (none with the sink) from the first publish until the subscriber had all. */
	brokerNs: number;
	subscriberNs?: number;
	/** ms from the first publish until the subscriber had all (the span of brokerNs). */
	wallMs: number;
	received: number;
	result: PublisherResult;
}

async function publishRun(
	scenario: Scenario, round: number, purpose: PublisherJob["purpose"], options: Options, endpoint: Endpoint,
): Promise<RunFigure> {
	const subscriber = endpoint.counter;
	// As long as the firmware's telemetry topic, and one per run for the subscriber's counts.
	const topic = `${DATA_PREFIX}${scenario.key}-${purpose === "memory" ? "m" : "t"}${round}/telemetry`;
	const job: PublisherJob = {
		client: scenario.client,
		qos: scenario.qos,
		window: scenario.window,
		mode: scenario.mode,
		purpose,
		messages: options.messages,
		warmup: options.warmup,
		host: endpoint.host,
		port: endpoint.port,
		topic,
	};
	const arrived = subscriber.expect(topic, options.messages);
	// A memory run gets a 1 MB young generation: less room for garbage to hide live data.
	const child = forkTs("publisher.ts", [JSON.stringify(job)], purpose === "memory" ? ["--max-semi-space-size=1"] : []);
	const what = `${scenario.label} (${purpose} run ${round})`;
	let onDone: () => void = () => {};
	const done = new Promise<void>((resolve) => (onDone = resolve));
	const { brokerPid, subscriberPid } = endpoint;
	let cpuBefore = { broker: 0, subscriber: 0 };
	const result = new Promise<PublisherResult>((resolve, reject) => {
		child.on("message", (message: FromPublisher) => {
			if (message.type === "ready") {
				cpuBefore = { broker: cpuNs(brokerPid), subscriber: cpuNs(subscriberPid) };
				child.send({ type: "go" } satisfies ToPublisher);
			}
			else if (message.type === "done") onDone();
			else if (message.type === "result") resolve(message.result);
			else reject(new Error(message.message));
		});
		child.once("exit", (code, signal) => reject(new Error(`${what}: publisher exited (${code ?? signal}) before reporting`)));
	});
	result.catch(() => {});
	const limit = 60000 + options.messages * 2;
	await withTimeout(Promise.race([done, result.then(() => {})]), limit, `${what}: publishing`);
	let received = options.messages;
	let lastAt: number;
	try {
		lastAt = await withTimeout(arrived, 15000, `${what}: subscriber`);
	}
	catch {
		// Lost messages (should not happen with max_queued_messages 0): report what arrived.
		const count = await subscriber.count(topic);
		received = count.count;
		lastAt = count.lastAt;
	}
	const cpuAfter = { broker: cpuNs(brokerPid), subscriber: cpuNs(subscriberPid) };
	child.send({ type: "finish" } satisfies ToPublisher);
	const r = await withTimeout(result, 30000, `${what}: result`);
	await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
	const end = scenario.qos === 1 ? (r.ackedAt ?? 0) : lastAt;
	return {
		scenario, round, elapsed: end - r.startedAt, received, result: r,
		brokerNs: cpuAfter.broker - cpuBefore.broker,
		subscriberNs: subscriberPid ? cpuAfter.subscriber - cpuBefore.subscriber : undefined,
		wallMs: lastAt - r.startedAt,
	};
}

/**
 * CPU time of a process so far, ns (the sum of its threads' /proc schedstat); 0 when unknown. Read
 * at the start and end of a run for the broker and the subscriber: if the broker was busy nearly
 * all of the run, it set the pace for whichever client published.
 */
function cpuNs(pid: number | undefined): number {
	if (!pid) return 0;
	try {
		let total = 0;
		for (const task of readdirSync(`/proc/${pid}/task`)) total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
		return total;
	}
	catch {
		return 0;
	}
}

/** The pid of the bench's Mosquitto (the process whose command line names its temp dir). */
function mosquittoPid(b: Mosquitto): number | undefined {
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
			if (cmdline.includes("mosquitto") && cmdline.includes(b.dir)) return Number(entry);
		}
		catch {
			// Gone meanwhile.
		}
	}
	return undefined;
}

interface ScenarioSummary {
	scenario: Scenario;
	runs: RunFigure[];
	/** Median messages per second. */
	rate: number;
	/** Median CPU µs of the publisher process per message. */
	cpu: number;
	min: number;
	max: number;
	maxInflight: number;
	waits: string;
	lost: number;
	/** Median CPU µs per message of the broker (or sink) and of the subscriber (none with the sink). */
	brokerCpu: number;
	subscriberCpu?: number;
	/** Median share of the run (until the subscriber had all) that the broker spent on a CPU, %. */
	brokerBusy: number;
	/** From the separate memory run, when there was one. */
	memory?: MemoryFigures;
}

function summarize(scenario: Scenario, runs: RunFigure[], messages: number, memory: RunFigure | undefined): ScenarioSummary {
	const rates = runs.map((r) => (messages * 1000) / r.elapsed);
	const waits = runs.map((r) => r.result.waits);
	const waitText = scenario.client === "ours"
		? `busy ${thousands(median(waits.map((w) => w.busy)))}, inflight_full ${thousands(median(waits.map((w) => w.inflightFull)))}`
		: scenario.mode === "paced" ? `drain ${thousands(median(waits.map((w) => w.drain)))}` : "none (never waits)";
	const all = memory ? [...runs, memory] : runs;
	return {
		scenario,
		runs,
		rate: median(rates),
		cpu: median(runs.map((r) => (r.result.cpuMicros ?? 0) / messages)),
		min: Math.min(...rates),
		max: Math.max(...rates),
		maxInflight: Math.max(...runs.map((r) => r.result.maxInflight)),
		brokerCpu: median(runs.map((r) => r.brokerNs / 1000 / messages)),
		subscriberCpu: runs.every((r) => r.subscriberNs !== undefined) ? median(runs.map((r) => r.subscriberNs! / 1000 / messages)) : undefined,
		brokerBusy: median(runs.map((r) => (r.wallMs > 0 ? r.brokerNs / 1e4 / r.wallMs : 0))),
		waits: waitText,
		lost: Math.max(...all.map((r) => messages - r.received)),
		memory: memory?.result.memory,
	};
}

/**
 * The workload of a section. Against the sink a run of --messages (20,000) lasts 30 to 130 ms and
 * is mostly the JIT warming up: after a 2,000-message warm-up both clients still spend 2 to 3
 * times the CPU per message they spend once V8 has optimized their hot paths, and a run that
 * short is at the mercy of one scheduler hiccup. So the sink section warms up longer and
 * measures more (--sink-warmup, --sink-messages): it is after the clients' steady state.
 */
function sectionOptions(kind: Endpoint["kind"], options: Options): Options {
	return kind === "sink" ? { ...options, messages: options.sinkMessages, warmup: options.sinkWarmup } : options;
}

/** The scenarios of a section: --only's in both, else all through Mosquitto and SINK_SCENARIOS against the sink. */
function sectionScenarios(kind: Endpoint["kind"], options: Options): Scenario[] {
	if (options.only.length) return SCENARIOS.filter((s) => options.only.includes(s.key));
	return kind === "mosquitto" ? SCENARIOS : SCENARIOS.filter((s) => SINK_SCENARIOS.includes(s.key));
}

async function startEndpoint(kind: Endpoint["kind"]): Promise<Endpoint> {
	if (kind === "sink") {
		const sink = await Subscriber.sink();
		if (!sink.port) throw new Error("sink: no port in its ready message");
		return { kind, host: "127.0.0.1", port: sink.port, counter: sink, brokerPid: sink.pid, subscriberPid: undefined };
	}
	const b = await startMosquitto({ extraConfig: BROKER_CONFIG });
	broker = b;
	const subscriber = await Subscriber.start(b.host, b.port);
	return { kind, host: b.host, port: b.port, counter: subscriber, brokerPid: mosquittoPid(b), subscriberPid: subscriber.pid };
}

async function runNetwork(kind: Endpoint["kind"], allOptions: Options, log: (line: string) => void): Promise<ScenarioSummary[]> {
	const options = sectionOptions(kind, allOptions);
	const scenarios = sectionScenarios(kind, options);
	const endpoint = await startEndpoint(kind);
	log(`${kind} on ${endpoint.host}:${endpoint.port}`);
	const figures = new Map<string, RunFigure[]>(scenarios.map((s) => [s.key, []]));
	// Rounds outermost, so a slow spell of the machine hits every scenario alike.
	for (let round = 1; round <= options.runs; round++) {
		for (const scenario of scenarios) {
			const figure = await publishRun(scenario, round, "throughput", options, endpoint);
			figures.get(scenario.key)!.push(figure);
			const rate = (options.messages * 1000) / figure.elapsed;
			const lost = options.messages - figure.received;
			const cpu = (figure.result.cpuMicros ?? 0) / options.messages;
			const brokerBusy = figure.wallMs > 0 ? figure.brokerNs / 1e4 / figure.wallMs : 0;
			const counter = figure.subscriberNs === undefined ? "" : `  subscriber ${(figure.subscriberNs / 1000 / options.messages).toFixed(1)} µs/msg`;
			log(`run ${round}/${options.runs} ${scenario.label.padEnd(52)} ${thousands(rate).padStart(8)} msg/s ${cpu.toFixed(1).padStart(6)} µs CPU/msg  ${kind === "sink" ? "sink" : "broker"} ${(figure.brokerNs / 1000 / options.messages).toFixed(1)} µs/msg, busy ${brokerBusy.toFixed(0)} %${counter}  load ${loadavg()[0].toFixed(1)}${lost ? `  LOST ${lost}` : ""}`);
		}
	}
	const memory = new Map<string, RunFigure>();
	// Memory is the client's alone whatever it talks to: measured in the broker section only.
	if (options.memory && kind === "mosquitto") {
		for (const scenario of scenarios) {
			const figure = await publishRun(scenario, 1, "memory", options, endpoint);
			memory.set(scenario.key, figure);
			const m = figure.result.memory;
			log(`memory  ${scenario.label.padEnd(52)} ${m ? `${mb(m.peakLive).padStart(6)} MB peak live` : "?"}`);
		}
	}
	await cleanUp();
	return scenarios.map((s) => summarize(s, figures.get(s.key)!, options.messages, memory.get(s.key)));
}

/* Reports ------------------------------------------------------------------------------------ */

function machineText(m: Machine, loadAfter?: string): string {
	return [
		`- Date: ${m.date}`,
		`- CPU: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB RAM`,
		`- OS: ${m.os}`,
		`- Node: ${m.node}`,
		`- Broker: ${m.mosquitto}`,
		loadAfter === undefined
			? `- Load average (1, 5, 15 min) at the start: ${m.load}`
			: `- Load average (1, 5, 15 min): ${m.load} at the start; ${loadAfter} at the end`,
	].join("\n");
}

function networkText(summaries: ScenarioSummary[], options: Options, kind: Endpoint["kind"] = "mosquitto"): string {
	const sink = kind === "sink";
	const by = (key: string) => summaries.find((s) => s.scenario.key === key);
	const payloadMB = (s: ScenarioSummary) => mb(s.rate * PAYLOAD_BYTES);
	const rows = summaries.map((s) => [
		s.scenario.label,
		thousands(s.rate),
		`${thousands(s.min)}–${thousands(s.max)}`,
		s.cpu.toFixed(1),
		payloadMB(s),
		s.scenario.qos === 1 ? thousands(s.maxInflight) : "–",
		s.waits,
		s.lost ? `**${s.lost} lost**` : "0",
		s.brokerCpu.toFixed(1),
		`${s.brokerBusy.toFixed(0)} %`,
		s.subscriberCpu === undefined ? "–" : s.subscriberCpu.toFixed(1),
	]);
	// Against the sink, the broker columns are the sink's process.
	const server = sink ? "sink" : "broker";
	const throughput = table(
		["Run", "msg/s (median)", "range", "publisher CPU µs/msg", "payload MB/s", "max in flight", "backpressure waits (median)", "lost", `${server} CPU µs/msg`, `${server} busy`, "subscriber CPU µs/msg"],
		rows, ["l", "r", "r", "r", "r", "r", "l", "r", "r", "r", "r"]);
	const pairs: [string, string, string][] = [
		["QoS 0", "ours-q0", "mqttjs-q0"],
		["QoS 0, MQTT.js in burst", "ours-q0", "mqttjs-q0-burst"],
		[`QoS 1, ${DEFAULT_WINDOW} in flight each`, "ours-q1-w8", "mqttjs-q1-w8"],
		[`QoS 1, our default window ${DEFAULT_WINDOW}`, "ours-q1-w8", "mqttjs-q1"],
		["QoS 1, our window unlimited", "ours-q1-wmax", "mqttjs-q1"],
		[`QoS 1, our default window ${DEFAULT_WINDOW}, MQTT.js in burst`, "ours-q1-w8", "mqttjs-q1-burst"],
		["QoS 1, our window unlimited, MQTT.js in burst", "ours-q1-wmax", "mqttjs-q1-burst"],
	];
	const ratioRows = pairs.flatMap(([name, a, b]) => {
		const x = by(a);
		const y = by(b);
		if (!x || !y) return [];
		return [[name, thousands(x.rate), thousands(y.rate), ratio(x.rate, y.rate), `${x.cpu.toFixed(1)} / ${y.cpu.toFixed(1)}`]];
	});
	const ratios = table(["Comparison", "ours msg/s", "MQTT.js msg/s", "ours / MQTT.js", "CPU µs/msg ours / MQTT.js"], ratioRows, ["l", "r", "r", "r", "r"]);
	const withMemory = summaries.filter((s) => s.memory);
	const memoryRows = withMemory.map((s) => {
		const m = s.memory!;
		return [s.scenario.label, mb(m.peakLive), mb(m.peakGrowth), mb(Math.max(0, m.rssPeak - m.rssBaseline)), mb(m.rssPeak)];
	});
	const memory = table(
		["Run", "peak live MB", "peak JS memory growth MB", "peak RSS growth MB", "peak RSS MB"],
		memoryRows, ["l", "r", "r", "r", "r"]);
	return [
		`${thousands(options.messages)} messages per run after ${thousands(options.warmup)} warm-up messages, ${PAYLOAD_BYTES}-byte payload, ` +
			`topic \`${DATA_PREFIX}<run>/telemetry\` (~40 characters), MQTT 3.1.1, ` +
			`${options.runs} run${options.runs > 1 ? "s" : ""} per row (median shown). ` +
			(sink
				? "The publisher talks to the sink (test-host/bench/sink.ts), a wire-speed MQTT end point that acknowledges " +
					"and counts but routes nothing (no subscriber); its own CPU is in the sink columns. " +
					"QoS 0 ends when the sink has counted every message; QoS 1 ends at the last PUBACK (the sink has counted every message by then)."
				: "QoS 0 ends when the subscriber has received every message; QoS 1 ends at the last PUBACK."),
		"",
		throughput,
		"",
		ratios,
		"",
		...(withMemory.length
			? [
				`Memory of the publishing process, one extra untimed run of ${thousands(options.messages)} messages per row ` +
					"(JS memory = V8 heapUsed + arrayBuffers, over a baseline taken after warm-up and a full GC; " +
					"live = after a full GC, at the moment the last publish() was accepted (hand-over) and, at QoS 1, " +
					"when the messages in flight reached 1024, 2048, 4096...):",
				"",
				memory,
			]
			: []),
	].join("\n");
}

function codecText(figures: CodecFigure[], options: Options): string {
	const rows = figures.map((f) => [
		f.case,
		String(f.bytes),
		f.operation,
		thousands(f.ours),
		thousands(f.theirs),
		ratio(f.ours, f.theirs),
	]);
	return [
		`Median of ${options.runs} run${options.runs > 1 ? "s" : ""} of at least ${options.codecMs} ms each; ` +
			`MQTT 3.1.1; JWT password ${sampleJwt().length} bytes. Encode: ours \`encode()\` vs \`mqtt-packet\` \`generate()\`; ` +
			"decode: one complete packet per call into ours `Decoder.push()` vs `mqtt-packet` `parser().parse()`.",
		"",
		table(["Packet", "bytes", "operation", "ours ops/s", "mqtt-packet ops/s", "ours / mqtt-packet"], rows, ["l", "r", "l", "r", "r", "r"]),
	].join("\n");
}

function xsText(f: XsFigures): string {
	const by = (key: string) => f.cases.find((c) => c.key === key);
	const rows = f.cases.map((c) => [c.label, xsMedian(c.us).toFixed(2), `${Math.min(...c.us).toFixed(2)}–${Math.max(...c.us).toFixed(2)}`, Math.round(xsMedian(c.meter)).toLocaleString("en-US")]);
	const lines = [
		`${f.engine}; ${thousands(f.messages)} messages per case and round (JWT: a quarter as many tokens), 256-byte payload, ` +
			`topic of 46 characters, ${f.runs} rounds, cases interleaved in one worker, median shown. Each client publishes to a stand-in ` +
			"socket (test-host/bench/xs/shims.ts): what is timed is the XS work per message down to the socket's write(). " +
			"Meter units: the worker's count of executed XS operations (deterministic; a typed-array copy counts 2 per byte).",
		"",
		table(["Case", "µs per message (median)", "range", "XS meter units per message"], rows, ["l", "r", "r", "r"]),
	];
	const ours = by("ours-q0");
	const theirs = by("moddable-q0");
	const q1 = by("ours-q1");
	if (ours && theirs) {
		lines.push("", `Ours / Moddable \`mqtt\`, QoS 0: ${ratio(xsMedian(ours.us), xsMedian(theirs.us))} in time, ${ratio(xsMedian(ours.meter), xsMedian(theirs.meter))} in meter units` +
			(q1 ? `; our QoS 1 (PUBACKs decoded) / their QoS 0: ${ratio(xsMedian(q1.us), xsMedian(theirs.us))}.` : "."));
	}
	else lines.push("", "Moddable's `mqtt` module was not measured: set MODDABLE to the SDK.");
	return lines.join("\n");
}

function linuxText(f: LinuxFigures): string {
	const by = (key: string) => f.phases.find((p) => p.key === key);
	const rows = f.phases.map((p) => [p.label, xsMedian(p.cpu).toFixed(2), `${Math.min(...p.cpu).toFixed(2)}–${Math.max(...p.cpu).toFixed(2)}`, xsMedian(p.wall).toFixed(1)]);
	const lines = [
		`${f.sdk}, x-cli-lin (test-host/bench/xs-app, all modules preloaded, the board's XS memory); one process holds both clients, ` +
			`each with its own connection to one local Mosquitto; phases alternate (ours, Moddable's, ...), ${f.runs} rounds, median shown. ` +
			`QoS 0: ${thousands(f.messages)} messages of 256 bytes per phase, 16 per turn; QoS 1: ${thousands(f.qos1Messages)} messages, window 8. ` +
			"CPU = the process's CPU time (/proc/<pid>/task/*/schedstat) over the phase, per message.",
		"",
		table(["Phase", "CPU µs per message (median)", "range", "wall µs per message"], rows, ["l", "r", "r", "r"]),
	];
	const ours = by("ours-q0");
	const theirs = by("moddable-q0");
	if (ours && theirs) lines.push("", `Ours / Moddable \`mqtt\`, QoS 0 CPU per message: ${ratio(xsMedian(ours.cpu), xsMedian(theirs.cpu))}.`);
	const q1 = by("ours-q1");
	const paced = by("moddable-q0-paced");
	const q1Net = by("ours-q1-net");
	const pacedNet = by("moddable-q0-paced-net");
	if (q1 && paced) {
		lines.push("", `Our QoS 1 (window 8) / Moddable's QoS 0 at the same pace (8 at a time, same wall time): ${ratio(xsMedian(q1.cpu), xsMedian(paced.cpu))}` +
			(q1Net && pacedNet ? `; with the idle polling removed from both: ${ratio(xsMedian(q1Net.cpu), xsMedian(pacedNet.cpu))}.` : "."));
	}
	return lines.join("\n");
}

function writeDoc(block: string): void {
	const generated = `${BEGIN}\n<!-- Written by \`npm run bench -- --write\`; edit the text outside these markers only. -->\n\n${block}\n\n${END}`;
	if (!existsSync(DOC)) {
		writeFileSync(DOC, `# Benchmarks\n\n${generated}\n`);
		return;
	}
	const text = readFileSync(DOC, "utf8");
	const begin = text.indexOf(BEGIN);
	const end = text.indexOf(END);
	if (begin < 0 || end < begin) throw new Error(`${DOC} has no ${BEGIN} ... ${END} block to replace`);
	writeFileSync(DOC, text.slice(0, begin) + generated + text.slice(end + END.length));
}

/* Main ----------------------------------------------------------------------------------------- */

async function main(): Promise<number> {
	const options = parseOptions(process.argv.slice(2));
	exitOnSignal("SIGINT");
	exitOnSignal("SIGTERM");
	// 2 ms a message and run through Mosquitto, 1 ms against the sink (several times faster).
	const hardLimit = setTimeout(() => {
		console.error("benchmark did not finish within its time limit");
		killChildren();
		process.exit(1);
	}, 300_000 + options.runs * (options.messages * 2 + (options.sink ? options.sinkMessages + options.sinkWarmup : 0)) + (process.env.BENCH_FLEET ? 1_200_000 : 0));
	hardLimit.unref();

	const m = machine();
	const log = (line: string) => console.log(`  ${line}`);
	console.log(`MQTT client benchmark, ${m.date}\n`);
	console.log(machineText(m));
	console.log("");

	let codec: CodecFigure[] | undefined;
	if (options.codec) {
		console.log("Codec: ours vs mqtt-packet ...");
		codec = runCodecBench({ minMs: options.codecMs, runs: options.runs, progress: log });
		console.log(`\n${codecText(codec, options)}\n`);
	}

	let xs: XsFigures | undefined;
	let linux: LinuxFigures | undefined;
	if (options.xs) {
		console.log("XS (xsnap): ours vs Moddable's mqtt module, no network ...");
		xs = await runXsBench({ messages: options.messages, runs: options.runs, progress: log });
		if (xs) console.log(`\n${xsText(xs)}\n`);
		else console.log("  skipped: the xsnap-worker binary is not built (npm ci builds it)\n");
		if (process.env.MODDABLE) {
			console.log("XS on Moddable's Linux runtime: ours vs Moddable's mqtt module through one local Mosquitto ...");
			linux = await runLinuxBench({ messages: options.messages, qos1Messages: 400, runs: options.runs, jwt: 2000, progress: log });
			if (linux) console.log(`\n${linuxText(linux)}\n`);
		}
		else console.log("XS on Moddable's Linux runtime: skipped (set MODDABLE to the SDK)\n");
	}

	let network: ScenarioSummary[] | undefined;
	let networkSkipped = "";
	if (options.net) {
		if (await requireMosquitto()) {
			console.log("Publish throughput: ours vs MQTT.js through one local Mosquitto ...");
			network = await runNetwork("mosquitto", options, log);
			console.log(`\n${networkText(network, options)}\n`);
		}
		else networkSkipped = "mosquitto is not installed";
	}
	// The same publishers with the broker taken out: what the client alone can do.
	let sink: ScenarioSummary[] | undefined;
	if (options.net && options.sink) {
		console.log("Publish throughput, client-bound (a wire-speed MQTT endpoint instead of the broker): ours vs MQTT.js ...");
		sink = await runNetwork("sink", options, log);
		console.log(`\n${networkText(sink, sectionOptions("sink", options), "sink")}\n`);
	}

	// Opt-in (minutes of load): BENCH_FLEET=1 or a list of sizes; see test-host/bench/fleet.ts.
	const fleet = process.env.BENCH_FLEET ? (await runFleetBench({ sizes: fleetSizes(process.env.BENCH_FLEET) })).text : undefined;

	const loadAfter = loadAverage();
	console.log(`Load average (1, 5, 15 min) at the end: ${loadAfter}`);

	if (options.write) {
		if (!codec || !network) {
			console.error(`--write needs the full benchmark (codec and network${networkSkipped ? `; ${networkSkipped}` : ""}); ${DOC} not changed`);
			return 1;
		}
		// The sink section's defaults follow --messages: name its options only when set apart.
		const defaults = parseOptions(options.messages !== 20000 ? ["--messages", String(options.messages)] : []);
		const command = [
			"npm run bench -- --write",
			options.messages !== 20000 ? `--messages ${options.messages}` : "",
			options.runs !== 3 ? `--runs ${options.runs}` : "",
			options.sink ? "" : "--no-sink",
			options.sink && options.sinkMessages !== defaults.sinkMessages ? `--sink-messages ${options.sinkMessages}` : "",
			options.sink && options.sinkWarmup !== defaults.sinkWarmup ? `--sink-warmup ${options.sinkWarmup}` : "",
		]
			.filter(Boolean).join(" ");
		writeDoc([
			`### Results of ${m.date.slice(0, 10)}`,
			"",
			`\`${process.env.BENCH_FLEET ? `BENCH_FLEET=${process.env.BENCH_FLEET} ` : ""}${command}\` on:`,
			"",
			machineText(m, loadAfter),
			"",
			"#### Publish throughput",
			"",
			networkText(network, options),
			...(sink ? ["", "#### Publish throughput, client-bound", "", networkText(sink, sectionOptions("sink", options), "sink")] : []),
			"",
			"#### Codec",
			"",
			codecText(codec, options),
			...(xs ? ["", "#### XS: the client's work per message (xsnap)", "", xsText(xs)] : []),
			...(linux ? ["", "#### XS on Moddable's Linux runtime", "", linuxText(linux)] : []),
			...(fleet ? ["", "#### Fleet", "", fleet] : []),
		].join("\n"));
		console.log(`\nwrote ${path.relative(process.cwd(), DOC)}`);
	}
	return 0;
}

main()
	.then(async (code) => {
		await cleanUp();
		process.exit(code);
	})
	.catch(async (error: unknown) => {
		console.error(error instanceof Error ? (error.stack ?? error.message) : error);
		await cleanUp().catch(() => {});
		process.exit(1);
	});

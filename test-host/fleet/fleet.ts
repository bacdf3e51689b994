/*
 * A fleet on one host: N simulated devices (the same Device the board runs, via SimulatedDevice),
 * each with its own MAC, client id, credentials, store, state machine and real TCP connection,
 * booted at a ramp against one broker: the embedded one (aedes), a Mosquitto started here, or any
 * broker URL. The fleet watches each device's events and wire (test-host/fleet/wire.ts), counts,
 * injects faults (drop every connection, restart the broker) and measures how the reconnect storm
 * spreads, what it costs in memory per device, and writes it all as a summary.
 *
 * Shared between devices: the world clock, the TCP factory (the wire watcher keeps per-connection
 * state in the connection), the counters, the broker; each device's nested config sections are
 * shared where they are equal. Not shared: the device state, its store, its clock and timers.
 */

import os from "node:os";
import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { clientIdFromMac, normalizeMac } from "../../src/identity";
import type { LogRecord } from "../../src/ports";
import type { DeviceConfig } from "../../src/settings";
import { RealClock, realWorldClock } from "../adapters/clock";
import { MemoryStore } from "../adapters/store";
import { cryptoRandom } from "../adapters/system";
import { EmbeddedBroker, type BrokerAuth } from "../brokers/embedded";
import { startMosquitto, type Mosquitto } from "../brokers/mosquitto";
import { SimulatedDevice } from "../sim";
import { fillTemplate, mosquittoPasswordLine, randomPassword } from "./credentials";
import type { FaultKind, FleetOptions } from "./options";
import { FleetStats, Samples, round2, type DeviceState, type Distribution } from "./stats";
import { fileLimitProblem, openFileLimit, residentBytes, type FileLimit } from "./system";
import { watchedTcp, type Droppable } from "./wire";

/** LED writes each simulated device keeps (a fleet never asks what an LED showed). */
const LED_HISTORY = 4;
/** Simulated WiFi join time, ms. */
const WIFI_JOIN_MS = 300;
/** The ramp boots devices on this tick. */
const RAMP_TICK_MS = 50;
/** How long a shutdown may take before the fleet stops waiting (the device itself waits 2 s for PUBACKs). */
const SHUTDOWN_LIMIT_MS = 20_000;

/** A broker the fleet uses: where it is, and what the fleet may do with it. */
interface BrokerControl {
	kind: FleetOptions["broker"];
	url: string;
	/** Stops and starts it again on the same port (local brokers). */
	restart?(): Promise<void>;
	stop(): Promise<void>;
	/** Resident memory of the broker when it is its own process. */
	rss?(): number | undefined;
	files?(): FileLimit | undefined;
}

export interface FaultRecord {
	kind: FaultKind;
	/** Milliseconds after the fleet started. */
	atMs: number;
	/** Connected devices the fault hit. */
	affected: number;
	/** How long the fault itself took (a broker restart), ms. */
	tookMs: number;
	/** Fault to CONNACK again, per device hit (ms). */
	reconnect: Samples;
	/** Devices reconnected in each second after the fault: the storm's shape. */
	perSecond: number[];
}

export interface MemoryFigures {
	devices: number;
	heapUsedBytes: number;
	rssBytes: number;
	heapPerDeviceKB: number;
	rssPerDeviceKB: number;
}

interface Baseline {
	heapUsed: number;
	rss: number;
}

export interface FleetEvents {
	/** A line for the person watching (faults, phases). */
	say?(line: string): void;
	/** Users besides the devices that the local broker lets in (a backend, a test's observer). */
	serviceUsers?: Record<string, string>;
}

/** One device of the fleet: the simulated device and what the fleet knows about it. */
class Member {
	state: DeviceState = "pending";
	bootedAt = 0;
	lostAt = 0;
	/** Whether the last loss was a planned reconnect (a JWT refresh). */
	lostPlanned = false;
	fault: FaultRecord | undefined;
	sim: SimulatedDevice | undefined;
	readonly n: number;
	readonly mac: string;
	readonly clientId: string;
	readonly config: DeviceConfig;
	readonly #fleet: Fleet;

	constructor(fleet: Fleet, n: number, mac: string, clientId: string, config: DeviceConfig) {
		this.#fleet = fleet;
		this.n = n;
		this.mac = mac;
		this.clientId = clientId;
		this.config = config;
	}

	readonly log = (record: LogRecord): void => {
		this.#fleet.deviceEvent(this, record);
	};
}

export class Fleet {
	readonly stats = new FleetStats();
	readonly options: FleetOptions;
	readonly faults: FaultRecord[] = [];
	readonly startedAt = performance.now();
	readonly startedIso = new Date().toISOString();
	readonly #members: Member[] = [];
	readonly #open = new Set<Droppable>();
	readonly #tcp = watchedTcp({
		published: () => this.stats.published++,
		acked: (ms) => {
			this.stats.acked++;
			this.stats.pubackLatency.add(ms);
			this.stats.pubackWindow.add(ms);
		},
		received: () => this.stats.received++,
	}, this.#open);
	readonly #events: FleetEvents;
	readonly #loop: IntervalHistogram;
	#broker: BrokerControl;
	#booted = 0;
	#rampTimer: ReturnType<typeof setInterval> | undefined;
	#rampDoneAt: number | undefined;
	#rampDone: Promise<void>;
	#resolveRampDone!: () => void;
	#baseline: Baseline = { heapUsed: 0, rss: 0 };
	#cpuAtStart = process.cpuUsage();
	readonly #loadAtStart = os.loadavg().map(round2);
	#stopping = false;
	readonly memory: { afterRamp?: MemoryFigures; atEnd?: MemoryFigures } = {};
	readonly files = openFileLimit();
	/** Why the fleet may not reach its size here (the file limit), when it may not. */
	readonly fileWarning: string | undefined;

	private constructor(options: FleetOptions, broker: BrokerControl, members: Member[], events: FleetEvents) {
		this.options = options;
		this.#broker = broker;
		this.#members = members;
		this.#events = events;
		this.stats.states.pending = members.length;
		this.#loop = monitorEventLoopDelay({ resolution: 20 });
		this.#loop.enable();
		this.#rampDone = new Promise((resolve) => (this.#resolveRampDone = resolve));
		this.fileWarning = fileLimitProblem(options.devices, broker.kind === "embedded", this.files);
	}

	/** Starts the broker (when local), prepares every device's identity and credentials; boots none yet. */
	static async create(options: FleetOptions, events: FleetEvents = {}): Promise<Fleet> {
		const plan = planDevices(options);
		const broker = await startBroker(options, plan, events.serviceUsers ?? {});
		const fleet = new Fleet(options, broker, [], events);
		const mqtt = { ...options.config.mqtt, url: broker.url };
		for (const p of plan) {
			p.config.mqtt = mqtt;
			fleet.#members.push(new Member(fleet, p.n, p.mac, p.clientId, p.config));
		}
		fleet.stats.states.pending = fleet.#members.length;
		return fleet;
	}

	get brokerUrl(): string {
		return this.#broker.url;
	}

	get brokerKind(): FleetOptions["broker"] {
		return this.#broker.kind;
	}

	/** How the devices authenticate (password by default with --mosquitto). */
	get authMode(): string {
		return this.#members[0]?.config.auth.mode ?? this.options.config.auth.mode;
	}

	get booted(): number {
		return this.#booted;
	}

	/** Milliseconds since the fleet was created. */
	elapsed(): number {
		return performance.now() - this.startedAt;
	}

	/** Event-loop delay p99 since the last call (ms): how late every timer of every device runs. */
	loopDelayP99(): number {
		const p99 = this.#loop.percentile(99) / 1e6;
		this.#loop.reset();
		return round2(p99);
	}

	get openConnections(): number {
		return this.#open.size;
	}

	/** Boots the devices at the ramp; resolves when the last one has booted. */
	start(): Promise<void> {
		this.#baseline = measure();
		this.#cpuAtStart = process.cpuUsage();
		const t0 = performance.now();
		const tick = () => {
			const due = Math.min(this.#members.length, Math.floor(((performance.now() - t0) * this.options.ramp) / 1000) + 1);
			while (this.#booted < due && !this.#stopping) this.#boot(this.#members[this.#booted++]);
			if (this.#booted >= this.#members.length || this.#stopping) {
				clearInterval(this.#rampTimer);
				this.#rampTimer = undefined;
				this.#rampDoneAt = this.elapsed();
				this.#resolveRampDone();
			}
		};
		this.#rampTimer = setInterval(tick, RAMP_TICK_MS);
		tick();
		return this.#rampDone;
	}

	#boot(member: Member): void {
		member.sim = new SimulatedDevice({
			config: member.config,
			mac: member.mac,
			clock: () => new RealClock(),
			world: realWorldClock,
			tcp: this.#tcp,
			store: new MemoryStore(),
			log: member.log,
			random: cryptoRandom,
			wifiJoinMs: WIFI_JOIN_MS,
			ledHistory: LED_HISTORY,
		});
		member.bootedAt = performance.now();
		this.#move(member, "connecting");
		member.sim.boot();
	}

	#move(member: Member, to: DeviceState): void {
		this.stats.move(member.state, to);
		member.state = to;
	}

	/** Every device event comes here (no formatting: the fleet only counts). */
	deviceEvent(member: Member, r: LogRecord): void {
		const s = this.stats;
		switch (r.event) {
			case "mqtt.connected": {
				const now = performance.now();
				if (member.state === "connecting") {
					s.everConnected++;
					s.connectTime.add(now - member.bootedAt);
					s.lastFirstConnectAt = now - this.startedAt;
				}
				if (member.state === "reconnecting" && !member.lostPlanned) s.outage.add(now - member.lostAt);
				if (member.state === "reconnecting" && member.fault) {
					const fault = member.fault;
					const ms = now - (this.startedAt + fault.atMs);
					fault.reconnect.add(ms);
					const second = Math.floor(ms / 1000);
					while (fault.perSecond.length <= second) fault.perSecond.push(0);
					fault.perSecond[second]++;
				}
				member.fault = undefined;
				if (member.state !== "connected") this.#move(member, "connected");
				return;
			}
			case "mqtt.disconnected":
				if (r.reason === "planned reconnect") s.plannedReconnects++;
				else {
					s.unplannedDisconnects++;
					s.failure(String(r.code));
				}
				member.lostAt = performance.now();
				member.lostPlanned = r.reason === "planned reconnect";
				if (member.state === "connected") this.#move(member, "reconnecting");
				return;
			case "mqtt.connect_failed":
				s.failure(String(r.code));
				s.error(r.event);
				return;
			case "telemetry.published":
				s.telemetry++;
				return;
			case "telemetry.dropped":
			case "mqtt.dropped":
				s.dropped++;
				return;
			default:
				if (r.level === "error") s.error(r.event);
		}
	}

	/** Injects a fault now; resolves when it has been done (a broker restart takes a moment). */
	async fault(kind: FaultKind): Promise<FaultRecord> {
		const record: FaultRecord = { kind, atMs: Math.round(this.elapsed()), affected: 0, tookMs: 0, reconnect: new Samples(), perSecond: [] };
		if (kind === "restart-broker" && !this.#broker.restart) throw new Error("restart-broker: the fleet can restart only a broker it started (embedded or --mosquitto)");
		for (const m of this.#members) {
			if (m.state !== "connected") continue;
			m.fault = record;
			record.affected++;
		}
		this.faults.push(record);
		const t = performance.now();
		if (kind === "drop-all") {
			for (const connection of [...this.#open]) connection.drop("connection reset (the fleet's drop-all fault)");
		}
		else await this.#broker.restart!();
		record.tookMs = Math.round(performance.now() - t);
		this.#events.say?.(`⚡ ${kind} at ${(record.atMs / 1000).toFixed(1)} s: ${record.affected} connected devices hit${kind === "restart-broker" ? ` (broker back after ${record.tookMs} ms)` : ""}`);
		return record;
	}

	/** Heap and RSS now, against the baseline before the first device, per device booted. */
	measureMemory(): MemoryFigures {
		const now = measure();
		const n = Math.max(1, this.#booted);
		const heap = now.heapUsed - this.#baseline.heapUsed;
		const rss = now.rss - this.#baseline.rss;
		return { devices: this.#booted, heapUsedBytes: now.heapUsed, rssBytes: now.rss, heapPerDeviceKB: round2(heap / n / 1024), rssPerDeviceKB: round2(rss / n / 1024) };
	}

	/** Shuts every device down cleanly (status offline, DISCONNECT), then the broker when local. */
	async stop(): Promise<void> {
		if (this.#stopping) return;
		this.#stopping = true;
		if (this.#rampTimer) clearInterval(this.#rampTimer);
		this.#resolveRampDone();
		const all = Promise.all(this.#members.map((m) => m.sim?.shutdown()));
		let limit: ReturnType<typeof setTimeout> | undefined;
		await Promise.race([all, new Promise((resolve) => (limit = setTimeout(resolve, SHUTDOWN_LIMIT_MS)))]);
		clearTimeout(limit);
		for (const m of this.#members) if (m.sim && m.state !== "pending") m.sim.halt();
		this.#loop.disable();
		await this.#broker.stop();
	}

	/** The run as JSON-ready data. */
	summary(): FleetSummary {
		const s = this.stats;
		const cpu = process.cpuUsage(this.#cpuAtStart);
		const elapsed = this.elapsed();
		const rampS = this.options.devices / this.options.ramp;
		return {
			startedAt: this.startedIso,
			durationS: round2(elapsed / 1000),
			devices: this.options.devices,
			booted: this.#booted,
			broker: { kind: this.#broker.kind, url: this.#broker.url, rssBytes: this.#broker.rss?.(), openFiles: this.#broker.files?.() },
			ramp: { perSecond: this.options.ramp, plannedS: round2(rampS), bootedInS: this.#rampDoneAt === undefined ? undefined : round2(this.#rampDoneAt / 1000) },
			config: { auth: this.authMode, telemetryIntervalS: this.options.config.telemetry.interval, jitterPercent: this.options.jitter, heartbeatS: this.options.config.telemetry.heartbeat, qos: this.options.config.mqtt.qos },
			connected: {
				now: s.states.connected,
				everConnected: s.everConnected,
				neverConnected: this.#booted - s.everConnected,
				reconnectingNow: s.states.reconnecting,
				lastFirstConnectAtS: round2(s.lastFirstConnectAt / 1000),
				connectTimeMs: s.connectTime.summary(),
			},
			disconnects: { unplanned: s.unplannedDisconnects, planned: s.plannedReconnects, outageMs: s.outage.summary() },
			failures: { ...s.failures },
			errors: { ...s.errors },
			messages: { published: s.published, acked: s.acked, received: s.received, telemetry: s.telemetry, dropped: s.dropped },
			pubackLatencyMs: s.pubackLatency.summary(),
			faults: this.faults.map((f) => ({ kind: f.kind, atS: round2(f.atMs / 1000), affected: f.affected, tookMs: f.tookMs, reconnected: f.reconnect.count, reconnectMs: f.reconnect.summary(), spreadMs: f.reconnect.count ? round2((f.reconnect.summary().max ?? 0) - (f.reconnect.summary().min ?? 0)) : undefined, reconnectsPerSecond: f.perSecond })),
			memory: { ...this.memory, includesBroker: this.#broker.kind === "embedded" },
			cpu: { userS: round2(cpu.user / 1e6), systemS: round2(cpu.system / 1e6), percentOfOneCore: round2(((cpu.user + cpu.system) / 1000 / elapsed) * 100) },
			openFiles: { limit: this.files, warning: this.fileWarning },
			node: process.version,
			machine: { cores: os.cpus().length, cpu: os.cpus()[0]?.model ?? "unknown", loadAverageAtStart: this.#loadAtStart, loadAverageAtEnd: os.loadavg().map(round2) },
		};
	}
}

export interface FleetSummary {
	startedAt: string;
	durationS: number;
	devices: number;
	booted: number;
	broker: { kind: string; url: string; rssBytes?: number; openFiles?: FileLimit };
	ramp: { perSecond: number; plannedS: number; bootedInS?: number };
	config: { auth: string; telemetryIntervalS: number; jitterPercent: number; heartbeatS: number; qos: number };
	connected: { now: number; everConnected: number; neverConnected: number; reconnectingNow: number; lastFirstConnectAtS: number; connectTimeMs: Distribution };
	disconnects: { unplanned: number; planned: number; outageMs: Distribution };
	failures: Record<string, number>;
	errors: Record<string, number>;
	messages: { published: number; acked: number; received: number; telemetry: number; dropped: number };
	pubackLatencyMs: Distribution;
	faults: { kind: FaultKind; atS: number; affected: number; tookMs: number; reconnected: number; reconnectMs: Distribution; spreadMs?: number; reconnectsPerSecond: number[] }[];
	memory: { afterRamp?: MemoryFigures; atEnd?: MemoryFigures; includesBroker: boolean };
	cpu: { userS: number; systemS: number; percentOfOneCore: number };
	openFiles: { limit?: FileLimit; warning?: string };
	node: string;
	machine: { cores: number; cpu: string; loadAverageAtStart: number[]; loadAverageAtEnd: number[] };
}

/** Heap and RSS after a full collection when the process has --expose-gc. */
function measure(): Baseline {
	const gc = (globalThis as { gc?: () => void }).gc;
	if (gc) {
		gc();
		gc();
	}
	const m = process.memoryUsage();
	return { heapUsed: m.heapUsed, rss: m.rss };
}

interface DevicePlan {
	n: number;
	mac: string;
	clientId: string;
	config: DeviceConfig;
	/** The device's own password (password mode with a local broker). */
	password?: string;
}

/** MAC n of the fleet: the base's last three bytes plus n. */
export function fleetMac(base: string, n: number): string {
	const mac = normalizeMac(base);
	if (!mac) throw new RangeError(`not a MAC address: ${base}`);
	const bytes = mac.split(":").map((h) => parseInt(h, 16));
	const low = ((bytes[3] << 16) | (bytes[4] << 8) | bytes[5]) + n;
	if (low > 0xffffff) throw new RangeError(`--device-mac ${base}: ${n + 1} devices do not fit below ${mac.slice(0, 8)}:FF:FF:FF (the client id is the last three bytes)`);
	return [bytes[0], bytes[1], bytes[2], (low >> 16) & 255, (low >> 8) & 255, low & 255].map((b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":");
}

/** Each device's MAC, client id, credentials and configuration. */
function planDevices(o: FleetOptions): DevicePlan[] {
	const base = o.config;
	const auth = o.broker === "mosquitto" && !o.authGiven ? "password" : base.auth.mode;
	const plans: DevicePlan[] = [];
	// Equal sections are shared; telemetry differs per interval, auth per device in password mode.
	const telemetry = new Map<number, DeviceConfig["telemetry"]>();
	const sharedAuth = { ...base.auth, mode: auth };
	fleetMac(o.mac, o.devices - 1);
	for (let n = 0; n < o.devices; n++) {
		const mac = fleetMac(o.mac, n);
		const clientId = clientIdFromMac(mac, base.mqtt.clientIdPrefix);
		const spread = (o.jitter / 100) * base.telemetry.interval;
		const interval = Math.max(1, Math.round(base.telemetry.interval + (Math.random() * 2 - 1) * spread));
		let t = telemetry.get(interval);
		if (!t) telemetry.set(interval, (t = { ...base.telemetry, interval }));
		let deviceAuth = sharedAuth;
		let password: string | undefined;
		if (auth === "password") {
			if (o.broker === "url") deviceAuth = { ...sharedAuth, username: fillTemplate(base.auth.username || "{id}", n, clientId), password: fillTemplate(base.auth.password, n, clientId) };
			else {
				password = randomPassword();
				deviceAuth = { ...sharedAuth, username: clientId, password };
			}
		}
		plans.push({ n, mac, clientId, config: { ...base, telemetry: t, auth: deviceAuth }, password });
	}
	return plans;
}

async function startBroker(o: FleetOptions, plan: DevicePlan[], serviceUsers: Record<string, string>): Promise<BrokerControl> {
	const auth = plan[0]?.config.auth.mode ?? "none";
	if (o.broker === "url") return { kind: "url", url: o.config.mqtt.url, stop: async () => {} };
	if (o.broker === "mosquitto") {
		const lines = auth === "password" ? plan.map((p) => mosquittoPasswordLine(p.clientId, p.password!)) : [];
		for (const [user, password] of Object.entries(serviceUsers)) lines.push(mosquittoPasswordLine(user, password));
		const mosquitto: Mosquitto = await startMosquitto({
			passwordFileText: lines.length ? lines.join("\n") : undefined,
			allowAnonymous: auth === "none",
			// Connections and errors only ("running" is information): a debug line per PUBLISH would be most of the work.
			logTypes: ["error", "warning", "notice", "information"],
			openFiles: o.devices + 1024,
			extraConfig: ["max_connections -1", "max_keepalive 65535"].join("\n"),
		});
		return {
			kind: "mosquitto",
			url: `mqtt://${mosquitto.host}:${mosquitto.port}`,
			restart: () => mosquitto.restart(),
			stop: () => mosquitto.stop(),
			rss: () => {
				const pid = mosquitto.pid();
				return pid === undefined ? undefined : residentBytes(pid);
			},
			files: () => {
				const pid = mosquitto.pid();
				return pid === undefined ? undefined : openFileLimit(pid);
			},
		};
	}
	const a = o.config.auth;
	const brokerAuth: BrokerAuth = auth === "jwt"
		? { mode: "jwt", secret: a.jwtSecret, issuer: a.jwtIssuer || undefined, audience: a.jwtAudience || undefined }
		: auth === "password" ? { mode: "password", users: Object.fromEntries(plan.map((p) => [p.clientId, p.password!])) } : { mode: "none" };
	let broker = await EmbeddedBroker.start({ auth: brokerAuth, serviceUsers });
	const port = await broker.listen(0);
	return {
		kind: "embedded",
		url: `mqtt://127.0.0.1:${port}`,
		restart: async () => {
			await broker.close();
			broker = await EmbeddedBroker.start({ auth: brokerAuth, serviceUsers });
			await broker.listen(port);
		},
		stop: () => broker.close(),
	};
}

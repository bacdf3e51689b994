/*
 * A simulated world for tests on the virtual clock: the in-process network, the embedded broker
 * (aedes, with its token checks on simulated time) and any number of simulated devices.
 * Hours of device life run in milliseconds; real I/O between the device and aedes settles after
 * each timer.
 */

import type { AedesPublishPacket } from "aedes";
import type { LogRecord } from "../src/ports";
import { defaultConfig, validateConfig, type DeviceConfig } from "../src/settings";
import { VirtualTime } from "./adapters/clock";
import { SimNetwork } from "./adapters/memnet";
import { MemoryStore } from "./adapters/store";
import { RecordingSink, seededRandom } from "./adapters/system";
import type { MacFrom, SimulatedNetwork } from "./adapters/wifi";
import { EmbeddedBroker, type BrokerAuth } from "./brokers/embedded";
import { SimulatedDevice, type SimulatedDeviceOptions } from "./sim";

export const BROKER_HOST = "broker.local";
export const BROKER_PORT = 1883;
export const JWT_SECRET = "test-secret-0123456789";

export interface Received {
	topic: string;
	payload: string;
	/** Virtual time of arrival at the broker. */
	at: number;
	retain: boolean;
	qos: number;
	clientId: string | undefined;
}

export interface WorldOptions {
	auth?: BrokerAuth;
	disconnectAfterExpire?: boolean;
	/** Users that may always connect with a password (an operator's tool), whatever the auth mode. */
	serviceUsers?: Record<string, string>;
}

export interface DeviceHandle {
	sim: SimulatedDevice;
	log: RecordingSink;
	store: MemoryStore;
	events(name: string): LogRecord[];
}

/** A partial configuration, merged over the test defaults. */
export type ConfigPatch = { [K in keyof DeviceConfig]?: Partial<DeviceConfig[K]> } & { powerSaving?: boolean };

export class World {
	readonly time = new VirtualTime();
	readonly network: SimNetwork;
	readonly received: Received[] = [];
	broker!: EmbeddedBroker;
	readonly devices: DeviceHandle[] = [];

	private constructor() {
		this.network = new SimNetwork(() => this.time.now);
	}

	static async create(options: WorldOptions = {}): Promise<World> {
		const world = new World();
		world.broker = await EmbeddedBroker.start({
			auth: options.auth ?? { mode: "jwt", secret: JWT_SECRET, issuer: "esp32-sensor", audience: "emqx" },
			disconnectAfterExpire: options.disconnectAfterExpire,
			serviceUsers: options.serviceUsers,
			clock: world.time.worldClock(),
		});
		world.broker.aedes.on("publish", (packet: AedesPublishPacket, client) => {
			if (!client) return;
			world.received.push({ topic: packet.topic, payload: packet.payload.toString(), at: world.time.now, retain: packet.retain, qos: packet.qos, clientId: client.id });
		});
		world.network.listen(BROKER_HOST, BROKER_PORT, (stream) => world.broker.handle(stream));
		return world;
	}

	/** The test configuration: fast WiFi and SNTP, the simulated broker, JWT auth. */
	static config(patch: ConfigPatch = {}): DeviceConfig {
		const base = defaultConfig();
		base.wifi.ssid = "test-ap";
		base.wifi.password = "test-pass";
		base.time.servers = ["ntp.test"];
		base.mqtt.url = `mqtt://${BROKER_HOST}:${BROKER_PORT}`;
		base.auth.jwtSecret = JWT_SECRET;
		const checked = validateConfig(patch, base);
		if (checked.errors.length) throw new Error(`test config: ${checked.errors.join("; ")}`);
		return checked.value;
	}

	addDevice(options: { config?: DeviceConfig; mac?: string; macFrom?: MacFrom; seed?: number; boot?: boolean; wifiJoinMs?: number; provisioning?: boolean; networks?: SimulatedNetwork[]; ota?: SimulatedDeviceOptions["ota"] } = {}): DeviceHandle {
		const log = new RecordingSink();
		const store = new MemoryStore();
		const index = this.devices.length;
		const mac = options.mac ?? `24:6F:28:${hex(index >> 16)}:${hex(index >> 8)}:${hex(index)}`;
		const sim = new SimulatedDevice({
			config: options.config ?? World.config(),
			mac,
			clock: () => this.time.clock(),
			world: this.time.worldClock(),
			tcp: this.network.tcp,
			store,
			log: log.sink,
			random: seededRandom(options.seed ?? 1000 + index),
			wifiJoinMs: options.wifiJoinMs,
			macFrom: options.macFrom,
			provisioning: options.provisioning ? {} : undefined,
			networks: options.networks,
			ota: options.ota,
		});
		const handle: DeviceHandle = { sim, log, store, events: (name) => log.events(name) };
		this.devices.push(handle);
		if (options.boot !== false) sim.boot();
		return handle;
	}

	/** Lets real I/O finish: network deliveries, aedes, asynchronous token checks. */
	readonly settle = async (): Promise<void> => {
		let quiet = 0;
		const deadline = Date.now() + 10_000;
		while (quiet < 3 && Date.now() < deadline) {
			await new Promise<void>((resolve) => setImmediate(resolve));
			if (this.network.inFlight > 0 || this.broker.pendingAuth > 0) quiet = 0;
			else quiet++;
		}
	};

	run(ms: number): Promise<void> {
		return this.time.run(ms, this.settle);
	}

	runUntil(done: () => boolean, maxMs: number): Promise<boolean> {
		return this.time.runUntil(done, maxMs, this.settle);
	}

	/** Publishes into the broker as the backend would (retained when asked: the broker keeps it for new subscribers). */
	inject(topic: string, payload: string | object, qos: 0 | 1 = 1, retain = false): Promise<void> {
		const body = typeof payload === "string" ? payload : JSON.stringify(payload);
		return new Promise((resolve, reject) => {
			this.broker.aedes.publish({ cmd: "publish", topic, payload: Buffer.from(body), qos, retain, dup: false }, (e) => (e ? reject(e) : resolve()));
		});
	}

	messages(topicSuffix: string): Received[] {
		return this.received.filter((m) => m.topic.endsWith(topicSuffix));
	}

	async close(): Promise<void> {
		for (const d of this.devices) d.sim.halt();
		await this.settle();
		await this.broker.close();
	}
}

function hex(n: number): string {
	const v = n & 0xff;
	return (v < 16 ? "0" : "") + v.toString(16).toUpperCase();
}

/** Telemetry seq numbers received, in arrival order. */
export function telemetrySeqs(world: World, clientId?: string): number[] {
	return world.messages("/telemetry")
		.filter((m) => !clientId || m.topic.includes(clientId))
		.map((m) => (JSON.parse(m.payload) as { seq: number }).seq);
}

/** The de-duplication key of every telemetry message received, in arrival order. */
export function telemetryKeys(world: World, clientId?: string): { boot: number; seq: number }[] {
	return world.messages("/telemetry")
		.filter((m) => !clientId || m.topic.includes(clientId))
		.map((m) => {
			const body = JSON.parse(m.payload) as { boot: number; seq: number };
			return { boot: body.boot, seq: body.seq };
		});
}

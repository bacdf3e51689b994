/*
 * The sensor node: what the device is for, on top of the supervisor's connection.
 *
 * Boots from the persisted state, reads the DHT, publishes telemetry (kept while offline, and
 * across the restarts it decides itself: src/restart.ts), heartbeats and a retained status (the
 * will says the same with online:false), raises and clears alerts, obeys commands at most once
 * and applies remote configuration live (src/inbox.ts).
 * Every port comes in through `Ports`; nothing here knows whether it runs on a board or in Node.
 */

import { utf8Decode } from "bytes";
import { DHT } from "dht";
import type { Message } from "mqttclient";
import { StatusLed } from "statusled";
import type { Command, Envelope } from "./commands";
import { Logger, isoTime } from "./events";
import { Identity, type DeviceIdentity } from "./identity";
import { Inbox, type Execution } from "./inbox";
import { encode, heartbeat as heartbeatMessage, sensorsOf, status as statusMessage, trimErrors, type DeviceFacts, type Dropped, type Status } from "./messages";
import type { Outgoing } from "./outbox";
import { Persisted, type PowerState } from "./persistence";
import { Updater, type OtaSetup } from "./ota/updater";
import type { Ports, TimerHandle } from "./ports";
import { PlannedRestart, type Kept } from "./restart";
import { RemoteConfiguration, withStoredRemoteConfig } from "./remote-config";
import { remoteView, type DeviceConfig } from "./settings";
import { Supervisor, type Link } from "./supervisor";
import { Telemetry } from "./telemetry";
import { planTopics, type TopicPlan } from "./topics";
import { FIRMWARE_NAME, FIRMWARE_VERSION } from "./version";

export interface DeviceOptions {
	ports: Ports;
	config: DeviceConfig;
	/** Firmware updates (src/ota/), when the board has an update partition. */
	ota?: OtaSetup;
}

/** How long a restart waits for its response to go out. */
const RESTART_DELAY_MS = 1000;
/** How long shutdown waits for the offline status to be acknowledged. */
const SHUTDOWN_WAIT_MS = 2000;

export class Device {
	readonly #p: Ports;
	readonly #log: Logger;
	readonly #persisted: Persisted;
	readonly #led: StatusLed;
	readonly #dht: DHT | undefined;
	readonly #telemetry: Telemetry;
	readonly #updater: Updater | undefined;
	/** The running firmware's version (from the booted image when the board can tell). */
	readonly #version: string;
	readonly #identity: Identity;
	readonly #rebootReason: string;
	/** This boot's number: the persisted boot counter, beside seq in telemetry. */
	readonly #boot: number;
	readonly #restarter: PlannedRestart;
	readonly #inbox: Inbox;
	readonly #remote: RemoteConfiguration;
	readonly supervisor: Supervisor;
	/** What the previous boot kept at its planned restart, until start() puts it back. */
	#kept: Kept | undefined;
	/** Counted since power-on (carried across planned restarts); reported in the status. */
	#dropped: Dropped = { telemetry: 0, responses: 0 };
	/** A command went unanswered: publish a status once the answers waiting have gone out. */
	#statusDue = false;
	#plan: TopicPlan | undefined;
	#config: DeviceConfig;
	#power: PowerState;
	#started = false;
	#stopped = false;
	#telemetryTimer: TimerHandle | undefined;
	#heartbeatTimer: TimerHandle | undefined;

	constructor(options: DeviceOptions) {
		const p = (this.#p = options.ports);
		this.#log = new Logger(p.clock, p.log);
		this.#persisted = new Persisted(p.store, (key, reason) => this.#log.warn("store.warning", { key, reason }));
		this.#config = withStoredRemoteConfig(options.config, this.#persisted, this.#log);
		// The client id, and the topics from it, only from a real MAC: now, or once WiFi has started.
		const { device: ids, topics } = this.#config;
		const plan = (id: DeviceIdentity) => planTopics(topics.scheme, { homeId: ids.homeId, deviceId: ids.deviceId || id.clientId, tenantId: ids.tenantId, clientId: id.clientId, mac: id.mac.replace(/:/g, "") });
		this.#identity = new Identity({ wifi: p.wifi, prefix: this.#config.mqtt.clientIdPrefix, log: this.#log, onReady: (id) => (this.#plan = plan(id)) });
		const counters = this.#persisted.counters();
		this.#boot = counters.boots + 1;
		this.#persisted.saveCounters({ ...counters, boots: this.#boot });
		this.#rebootReason = this.#persisted.takeRebootReason() ?? "power on";
		this.#restarter = new PlannedRestart({ persisted: this.#persisted, system: p.system, log: this.#log, onDropped: (message, reason) => this.#onDropped(message, reason) });
		this.#kept = this.#restarter.take();
		this.#power = this.#persisted.power() ?? { on: false, brightness: 100 };
		this.#led = new StatusLed({ output: p.led, timers: p.clock, onChange: (pattern) => this.#log.info("led.pattern", { pattern }) });
		this.#dht = this.#config.sensor.model === "none" ? undefined : new DHT({ sensor: { capture: p.dht }, model: this.#config.sensor.model, clock: p.clock });
		this.#remote = new RemoteConfiguration({ persisted: this.#persisted, log: this.#log, wifi: p.wifi, clock: p.clock, config: () => this.#config, replace: (next) => this.#replaceConfig(next) });
		this.supervisor = new Supervisor({
			ports: { ...p, wifi: this.#remote.wifi },
			config: this.#config,
			log: this.#log,
			persisted: this.#persisted,
			identity: this.#identity,
			led: this.#led,
			hooks: {
				onOnline: (link) => this.#onOnline(link),
				onOffline: () => {
					this.#inbox.offline();
					this.#updater?.offline();
				},
				onMessage: (message) => this.#onMessage(message),
				// The will goes inside CONNECT, next to the JWT: keep it to the status without the error list.
				will: () => ({ topic: this.topics.status, payload: encode({ ...this.#status(false), errors: [] }), qos: 1, retain: true }),
				onSent: (message, bytes) => this.#onSent(message, bytes),
				onDropped: (message, reason) => this.#onDropped(message, reason),
				restart: (reason) => this.#plannedRestart(reason),
			},
		});
		this.#inbox = new Inbox({
			log: this.#log,
			persisted: this.#persisted,
			link: this.supervisor.link,
			topics: () => this.topics,
			timestamp: () => this.#facts().timestamp,
			refuse: (command) => (command.type === "ROTATE_CREDENTIALS" ? this.supervisor.canRotate() : undefined),
			execute: (command, envelope) => this.#execute(command, envelope),
			remoteConfig: () => remoteView(this.#config),
			applyConfig: (value, changed) => this.#remote.apply(value, changed),
			statusChanged: () => this.#publishStatus(),
			onUnanswered: () => {
				this.#dropped.responses++;
				this.#statusDue = true;
			},
		});
		const link = this.supervisor.link;
		this.#telemetry = new Telemetry({ dht: this.#dht, log: this.#log, link, boot: this.#boot, config: () => this.#config, topics: () => this.topics, facts: () => this.#facts(), online: () => this.supervisor.online, outboxSize: () => this.supervisor.outboxSize, outgoing: (...a) => this.#outgoing(...a) });
		const ota = options.ota;
		this.#version = ota?.ports.boot.running().version ?? FIRMWARE_VERSION;
		this.#updater = ota && new Updater({
			...ota, clock: p.clock, store: p.store, log: this.#log, random: () => p.random.float(), firmware: { name: FIRMWARE_NAME, board: ota.board }, ca: this.#config.mqtt.ca || undefined,
			report: (progress) => link.publish(this.#outgoing("ota_progress", this.topics.ota.progress, { deviceId: this.deviceId, ...progress, timestamp: this.#facts().timestamp }, 1), true),
			restart: (reason) => this.#plannedRestart(reason),
			led: (on) => this.#led.hold(on ? "updating" : undefined),
		});
	}

	get config(): DeviceConfig {
		return this.#config;
	}
	/** The stable client id; throws until the WiFi driver has given the MAC. */
	get clientId(): string {
		return this.#identity.clientId;
	}
	get topics(): TopicPlan {
		if (!this.#plan) throw new Error("no topics before the client id is known (no MAC from the WiFi driver yet)");
		return this.#plan;
	}
	get deviceId(): string {
		return this.#config.device.deviceId || this.clientId;
	}
	get power(): PowerState {
		return { ...this.#power };
	}

	start(): void {
		if (this.#started) return;
		this.#started = true;
		this.#log.info("device.boot", {
			firmware: FIRMWARE_NAME,
			firmwareVersion: this.#version,
			clientId: this.#identity.current?.clientId ?? null,
			mac: this.#identity.current?.mac ?? null,
			rebootReason: this.#rebootReason,
			boots: this.#boot,
			scheme: this.#config.topics.scheme,
			auth: this.#config.auth.mode,
		});
		this.#restoreKept();
		this.#updater?.start();
		this.#identity.start();
		this.#applyPower(this.#power, false);
		this.supervisor.start();
	}

	/** Says goodbye (status offline, retained), disconnects and stops every timer. */
	shutdown(done?: () => void): void {
		if (this.#stopped) {
			done?.();
			return;
		}
		this.#stopped = true;
		this.#clearTimers();
		const finish = () => {
			this.supervisor.stop();
			this.#dht?.close();
			this.#led.close();
			done?.();
		};
		if (!this.supervisor.online) {
			finish();
			return;
		}
		this.supervisor.link.publish(this.#outgoing("status", this.topics.status, this.#status(false), 1, true), false);
		const deadline = this.#p.clock.now() + SHUTDOWN_WAIT_MS;
		const poll = () => {
			if (this.supervisor.inflight === 0 || this.#p.clock.now() >= deadline) finish();
			else this.#p.clock.set(poll, 50);
		};
		poll();
	}

	/** Stops at once without a goodbye, as power loss would (the broker publishes the will). */
	halt(): void {
		this.#stopped = true;
		this.#clearTimers();
		this.supervisor.halt();
		this.#dht?.close();
		this.#led.close();
	}

	/* Connection --------------------------------------------------------------------- */

	#onOnline(link: Link): void {
		this.#remote.online();
		const ota = this.#updater ? [this.topics.ota.firmware, this.topics.ota.fleet] : [];
		link.subscribe([...this.topics.subscriptions.map((s) => s.filter), ...ota].map((topic) => ({ topic, qos: 1 as const })));
		link.publish(this.#outgoing("status", this.topics.status, this.#status(true), 1, true), true);
		// A heartbeat on every connection, then on its interval.
		if (this.#heartbeatTimer !== undefined) this.#p.clock.clear(this.#heartbeatTimer);
		this.#heartbeatTimer = this.#p.clock.repeat(() => this.#heartbeat(), this.#config.telemetry.heartbeat * 1000);
		this.#heartbeat();
		if (this.#telemetryTimer === undefined && !this.#stopped) {
			// The first reading goes out as soon as the device is online, then every interval.
			this.#telemetry.sampleAndPublish();
			this.#restartTelemetry();
		}
		this.#updater?.online();
	}

	#onSent(message: Outgoing, bytes: number): void {
		switch (message.kind) {
			case "telemetry": {
				// The reading just taken, or one that waited (read back from its payload).
				const t = message.boot === this.#boot && message.seq === this.#telemetry.seq ? this.#telemetry.lastReading : sensorsOf(message.payload);
				this.#log.info("telemetry.published", { topic: message.topic, bytes, boot: message.boot, seq: message.seq, temperature: t?.temperature ?? undefined, humidity: t?.humidity ?? undefined });
				break;
			}
			case "heartbeat":
				this.#log.info("heartbeat.published", { topic: message.topic, bytes, uptime: Math.floor(this.#p.clock.now() / 1000) });
				break;
			case "status":
				this.#log.info("status.published", { topic: message.topic, bytes, online: message.payload.indexOf("\"online\":true") >= 0 });
				break;
			case "value":
				break;
			default:
				this.#log.info(`${message.kind}.published`, { topic: message.topic, bytes });
		}
		if (message.kind !== "response") return;
		this.#inbox.released(message);
		if (this.#statusDue && this.supervisor.link.answersWaiting === 0) {
			this.#statusDue = false;
			this.#publishStatus();
		}
	}

	#onDropped(message: Outgoing, reason: string): void {
		if (message.kind === "telemetry") {
			this.#dropped.telemetry++;
			this.#log.warn("telemetry.dropped", { boot: message.boot, seq: message.seq, reason });
			return;
		}
		if (message.kind === "response") {
			this.#dropped.responses++;
			this.#inbox.released(message);
		}
		if (message.kind !== "heartbeat") this.#log.warn("mqtt.dropped", { kind: message.kind, topic: message.topic, reason });
	}

	#outgoing(kind: string, topic: string, body: object | string, qos: 0 | 1, retain = false, seq?: number): Outgoing {
		const out: Outgoing = { kind, topic, payload: typeof body === "string" ? body : encode(body), qos, retain };
		if (seq !== undefined) {
			out.boot = this.#boot;
			out.seq = seq;
		}
		return out;
	}

	/** Puts back what the previous boot kept at its planned restart. */
	#restoreKept(): void {
		const kept = this.#kept;
		if (!kept) return;
		this.#kept = undefined;
		this.#dropped = { telemetry: this.#dropped.telemetry + kept.dropped.telemetry, responses: this.#dropped.responses + kept.dropped.responses };
		this.supervisor.restore(kept.messages);
		const count = (kind: string) => kept.messages.filter((m) => m.kind === kind).length;
		this.#log.info("queue.restored", { telemetry: count("telemetry"), responses: count("response"), messages: kept.messages.length, dropped: { ...kept.dropped } });
	}

	/* Telemetry ---------------------------------------------------------------------- */

	#restartTelemetry(): void {
		if (this.#telemetryTimer !== undefined) this.#p.clock.clear(this.#telemetryTimer);
		this.#telemetryTimer = this.#p.clock.repeat(() => this.#telemetry.sampleAndPublish(), this.#config.telemetry.interval * 1000);
	}

	#heartbeat(): void {
		if (!this.supervisor.online) return;
		this.supervisor.link.publish(this.#outgoing("heartbeat", this.topics.heartbeat, heartbeatMessage(this.#facts()), 0), false);
	}

	#facts(): DeviceFacts {
		return {
			deviceId: this.deviceId,
			boot: this.#boot,
			firmwareVersion: this.#version,
			timestamp: this.supervisor.timeValid ? isoTime(this.#p.clock.wallTime()) : null,
			uptimeSeconds: Math.floor(this.#p.clock.now() / 1000),
			freeMemory: this.#p.system.freeMemory() ?? null,
			wifiSignal: this.#p.wifi.rssi() ?? null,
		};
	}

	#status(online: boolean): Status {
		return statusMessage(this.#facts(), online, {
			rebootReason: this.#rebootReason,
			clientId: this.supervisor.connectionId,
			power: { ...this.#power },
			config: remoteView(this.#config),
			dropped: { ...this.#dropped },
			errors: trimErrors(this.supervisor ? this.supervisor.problems() : [], 3, 80),
		});
	}

	#publishStatus(): void {
		if (this.supervisor.online) this.supervisor.link.publish(this.#outgoing("status", this.topics.status, this.#status(true), 1, true), true);
	}

	/* Inbound ------------------------------------------------------------------------ */

	/** Handles a message as if it had arrived from the broker (the supervisor's path; also for tests). */
	receive(message: Message): void {
		this.#onMessage(message);
	}

	/** The client acknowledges a QoS 1 message once a returned thenable settles (src/inbox.ts). */
	#onMessage(message: Message): PromiseLike<void> | undefined {
		if (this.#stopped) return undefined;
		const ota = this.#updater && this.#plan?.ota;
		if (ota && (message.topic === ota.firmware || message.topic === ota.fleet)) {
			this.#updater?.receive(utf8Decode(message.payload) ?? "", message.topic === ota.fleet ? "fleet" : "device");
			return undefined;
		}
		return this.#inbox.receive(message);
	}

	#execute(command: Command, envelope: Envelope): Execution {
		switch (command.type) {
			case "SET_POWER":
				this.#applyPower({ on: command.power, brightness: command.brightness ?? this.#power.brightness }, true);
				return { result: { power: this.#power.on, brightness: this.#power.brightness } };
			case "LIGHT":
				this.#applyPower({ on: command.on, brightness: this.#power.brightness }, true);
				return { result: { power: this.#power.on } };
			case "ALERT_RESET":
				return { result: { cleared: this.#telemetry.resetAlerts() } };
			case "RESET": {
				const reason = `command ${envelope.typeName ?? "RESET"}${envelope.commandId ? ` (${envelope.commandId})` : ""}`;
				// After the answer has had a moment to go out.
				return { after: () => this.#p.clock.set(() => this.#plannedRestart(reason), RESTART_DELAY_MS) };
			}
			case "FACTORY_RESET": // answered first; then settings forgotten and setup mode (src/provisioning/)
				return { result: { next: "setup mode" }, after: () => this.#p.clock.set(() => this.shutdown(() => this.#factoryReset()), RESTART_DELAY_MS) };
			case "ROTATE_CREDENTIALS": {
				const outcome = this.supervisor.rotateCredentials({ password: command.password, username: command.username });
				return outcome.ok ? { result: { applies: "next connection" } } : { error: outcome.reason };
			}
		}
	}

	/** Every restart the firmware decides: goodbye, keep what waits to be sent, restart (src/restart.ts). */
	#plannedRestart(reason: string): void {
		this.shutdown(() => this.#restarter.restart(reason, this.supervisor.waiting(), this.#dropped));
	}

	#applyPower(power: PowerState, announce: boolean): void {
		const changed = power.on !== this.#power.on || power.brightness !== this.#power.brightness;
		this.#power = { ...power };
		this.#p.power?.write(power.on ? 1 : 0);
		if (!announce) return;
		if (changed) this.#persisted.savePower(this.#power);
		this.#log.info("power.changed", { on: power.on, brightness: power.brightness });
	}

	#factoryReset(): void {
		this.#persisted.factoryReset();
		this.#persisted.saveRebootReason("factory reset");
		this.#p.system.restart("factory reset");
	}

	/** Remote configuration (src/remote-config.ts) changed the configuration. */
	#replaceConfig(next: DeviceConfig): void {
		const before = this.#config;
		this.#config = next;
		this.supervisor.updateConfig(next);
		if (before.telemetry.interval !== next.telemetry.interval && this.#telemetryTimer !== undefined) this.#restartTelemetry();
	}

	#clearTimers(): void {
		this.#telemetry.stop();
		this.#updater?.stop();
		if (this.#telemetryTimer !== undefined) this.#p.clock.clear(this.#telemetryTimer);
		if (this.#heartbeatTimer !== undefined) this.#p.clock.clear(this.#heartbeatTimer);
		this.#telemetryTimer = this.#heartbeatTimer = undefined;
	}
}

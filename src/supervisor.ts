/*
 * The supervisor: the device's connectivity, as a state machine that keeps itself alive.
 *
 *   BOOT -> WIFI -> TIME -> MQTT -> ONLINE
 *
 * - WiFi rejoins with its own backoff; while it is down there are no MQTT attempts, and when it
 *   comes back MQTT tries again promptly (never closer than the floor to the previous attempt).
 * - No JWT before the clock is valid; a fresh token for every attempt; a planned reconnect with a
 *   new token every jwtRefresh seconds (well before exp) and when SNTP moves the clock a lot, after
 *   letting QoS 1 messages in flight complete.
 * - MQTT attempts back off x2 from the floor (10 s) to the cap (5 min) with up to +25 % jitter, and
 *   the backoff resets once a connection has stayed up for backoffReset seconds.
 * - Rotated credentials are used for the next connection; if the broker refuses them, the previous
 *   ones come back (and the other way round), so a rotation cannot strand the device.
 * - No CONNECT without the client id, which comes from the MAC once the WiFi driver has started:
 *   never a made-up one; until then each attempt reports identity.unavailable and backs off.
 * - Repeated takeovers of the client id are reported as a conflict; no connection for `watchdog`
 *   minutes makes one attempt at once, then a planned restart if it fails (src/watchdog.ts).
 * - Publishing (what waits where) is src/publisher.ts; subscriptions, with retries of refused
 *   ones, are src/subscriptions.ts.
 */

import { Backoff } from "backoff";
import { mint, preview } from "jwt";
import { MQTTClient, type CloseInfo, type ConnectInfo, type ConnectOptions, type Message, type QoS, type Subscription } from "mqttclient";
import type { Diagnostic } from "mqttclient/diagnostics";
import type { StatusLed, LedPattern } from "statusled";
import type { Logger } from "./events";
import { fixFor } from "./hints";
import type { Outgoing } from "./outbox";
import type { Credentials, Persisted } from "./persistence";
import type { Ports, TimerHandle } from "./ports";
import { Publisher, type PublishResult } from "./publisher";
import { connectionClientId, type Identity } from "./identity";
import { brokerAddress, type DeviceConfig } from "./settings";
import { Subscriptions } from "./subscriptions";
import { Watchdog } from "./watchdog";

export type State = "BOOT" | "WIFI" | "TIME" | "MQTT" | "ONLINE";

/** Wall-clock times before this are not trusted (2024-01-01T00:00:00Z). */
export const VALID_TIME_AFTER = 1704067200000;

export type { PublishResult };

export interface Link {
	readonly online: boolean;
	/** Answers waiting for the connection (src/responses.ts bounds them). */
	readonly answersWaiting: number;
	/** Sends now if possible; otherwise keeps it (when `queue`) or drops it. */
	publish(message: Outgoing, queue: boolean): PublishResult;
	subscribe(subscriptions: Subscription[]): void;
}

export interface SupervisorHooks {
	/** After each accepted connection: subscribe and announce. */
	onOnline(link: Link, info: ConnectInfo): void;
	onOffline(): void;
	onMessage(message: Message): void | PromiseLike<unknown>;
	/** The will for the next connection. */
	will(): { topic: string; payload: string; qos: QoS; retain: boolean };
	/** A message went to the broker (now or from the outbox). */
	onSent?(message: Outgoing, bytes: number): void;
	onDropped?(message: Outgoing, reason: string): void;
	/** The watchdog's planned restart (the device keeps what is queued, then restarts). */
	restart(reason: string): void;
}

export interface SupervisorOptions {
	ports: Ports;
	config: DeviceConfig;
	log: Logger;
	persisted: Persisted;
	/** Gives the stable client id (the CONNECT id unless a per-boot suffix is configured) once WiFi has a MAC. */
	identity: Identity;
	led: StatusLed;
	hooks: SupervisorHooks;
}

/** A connection shorter than this, ended by the broker, counts toward a client id conflict. */
const SHORT_SESSION_MS = 5000;
const CONFLICT_THRESHOLD = 3;
/** How long a planned reconnect waits for QoS 1 messages in flight. */
const DRAIN_MS = 5000;
const MAX_PROBLEMS = 5;

type TimerName = "wifi" | "time" | "resync" | "mqtt" | "refresh" | "stable" | "drain";

export class Supervisor {
	readonly #p: Ports;
	readonly #log: Logger;
	readonly #persisted: Persisted;
	readonly #hooks: SupervisorHooks;
	readonly #led: StatusLed;
	readonly #identity: Identity;
	#connectionId: string | undefined;
	#config: DeviceConfig;
	#client: MQTTClient;
	#backoff: Backoff;
	#wifiBackoff: Backoff;
	readonly #publisher: Publisher;
	readonly #subscriptions: Subscriptions;
	readonly #watchdog: Watchdog;

	#state: State = "BOOT";
	#stopped = false;
	#wifiUp = false;
	#timeValid = false;
	#timeWaitSince = 0;
	#syncing = false;
	#fault = false;
	#attempt = 0;
	/** The attempt whose failure has been reported last. */
	#failedAttempt = 0;
	#lastAttemptAt = -Infinity;
	#connectedAt = 0;
	#planned = false;
	#draining = false;
	#shortSessions = 0;
	#credentials: Credentials | undefined;
	#problems: string[] = [];
	#timers: Record<TimerName, TimerHandle | undefined> = {
		wifi: undefined, time: undefined, resync: undefined, mqtt: undefined, refresh: undefined, stable: undefined, drain: undefined,
	};

	readonly link: Link;

	constructor(options: SupervisorOptions) {
		this.#p = options.ports;
		this.#config = options.config;
		this.#log = options.log;
		this.#persisted = options.persisted;
		this.#hooks = options.hooks;
		this.#led = options.led;
		this.#identity = options.identity;
		const random = () => this.#p.random.float();
		const m = this.#config.mqtt;
		this.#backoff = new Backoff({ floor: m.backoffMin * 1000, cap: m.backoffMax * 1000, random });
		this.#wifiBackoff = new Backoff({ floor: this.#config.wifi.retryMin * 1000, cap: this.#config.wifi.retryMax * 1000, random });
		const p = this.#p;
		const client = (this.#client = this.#createClient());
		const online = () => this.online;
		const { log, hooks } = options;
		const publisher = (this.#publisher = new Publisher({ client, online, log, outboxSize: m.outboxSize, onSent: hooks.onSent, onDropped: hooks.onDropped }));
		const backoff = () => ({ floor: this.#config.mqtt.backoffMin * 1000, cap: this.#config.mqtt.backoffMax * 1000 });
		this.#subscriptions = new Subscriptions({ clock: p.clock, log, random, backoff, subscribe: (s) => client.subscribe(s), note: (x) => this.#note(x), warn: (d) => this.#onWarning(d) });
		const graceMs = () => (this.#config.mqtt.backoffMin + this.#config.mqtt.socketTimeout + 5) * 1000;
		this.#watchdog = new Watchdog({ clock: p.clock, log, persisted: options.persisted, minutes: () => this.#config.mqtt.watchdog, graceMs, attemptNow: () => this.#scheduleAttempt(this.#promptDelay()), restart: (reason) => hooks.restart(reason) });
		this.link = {
			get online() { return online(); },
			get answersWaiting() { return publisher.answersWaiting; },
			publish: (message, queue) => publisher.publish(message, queue),
			subscribe: (subscriptions) => this.#subscriptions.request(subscriptions),
		};
	}

	get state(): State {
		return this.#state;
	}
	get online(): boolean {
		return this.#state === "ONLINE" && !this.#draining && !this.#stopped && this.#client.connected;
	}
	/** The id sent in CONNECT: the stable id, or with the per-boot suffix fixed at the first attempt; throws before it is known. */
	get connectionId(): string {
		return this.#connectionId ?? this.#identity.clientId;
	}
	get timeValid(): boolean {
		return this.#timeValid;
	}
	get outboxSize(): number {
		return this.#publisher.outboxSize;
	}
	get inflight(): number {
		return this.#client.inflight;
	}
	/** Recent problems, newest last, for the status message. */
	problems(): string[] {
		return this.#problems.slice();
	}

	/** Everything not yet acknowledged by the broker (for a planned restart to keep). */
	waiting(): Outgoing[] {
		return this.#publisher.waiting();
	}

	/** Puts back what a planned restart kept, before anything new is published. */
	restore(messages: readonly Outgoing[]): void {
		this.#publisher.restore(messages);
	}

	start(): void {
		this.#timeWaitSince = this.#p.clock.now();
		this.#watchdog.arm();
		this.#joinWifi();
	}

	/** Stops everything; a connection still up is closed with DISCONNECT. */
	stop(): void {
		this.halt(this.#client.state === "connected");
	}

	/** Stops at once: the connection is dropped without DISCONNECT (unless `goodbye`). */
	halt(goodbye = false): void {
		this.#stopped = true;
		for (const key in this.#timers) this.#clear(key as TimerName);
		this.#watchdog.stop();
		this.#subscriptions.stop();
		if (goodbye) this.#client.disconnect();
		else this.#client.close();
	}

	/** Configuration changed at run time (remote config): timers and limits that can follow do. */
	updateConfig(config: DeviceConfig): void {
		this.#config = config;
		this.#client.keepAlive = config.mqtt.keepAlive;
		this.#wifiBackoff = new Backoff({ floor: config.wifi.retryMin * 1000, cap: config.wifi.retryMax * 1000, random: () => this.#p.random.float() });
		this.#updateLed();
	}

	/** Whether rotate_credentials can apply to this device, and why not. */
	canRotate(): string | undefined {
		const mode = this.#config.auth.mode;
		return mode === "password" ? undefined : `rotate_credentials needs auth.mode "password" (this device uses "${mode}")`;
	}

	/**
	 * Stores rotated credentials for the next connection (the broker typically switches by kicking
	 * the client: dynamic security does; a password file needs SIGHUP). The working ones stay as the
	 * alternate.
	 */
	rotateCredentials(next: { username?: string; password: string }): { ok: true } | { ok: false; reason: string } {
		const refused = this.canRotate();
		if (refused) return { ok: false, reason: refused };
		const current = this.#credentials ?? this.#loadCredentials();
		const username = next.username ?? current.username;
		this.#credentials = this.#persisted.rotate({ username, password: next.password }, { ...current, verified: true });
		this.#log.info("credentials.rotated", { username });
		return { ok: true };
	}

	/* WiFi -------------------------------------------------------------------------- */

	#joinWifi(): void {
		if (this.#stopped) return;
		this.#setState("WIFI");
		this.#log.info("wifi.connecting", { ssid: this.#config.wifi.ssid });
		this.#p.wifi.connect({ ssid: this.#config.wifi.ssid, password: this.#config.wifi.password }, {
			onConnected: (ip) => this.#onWifiUp(ip),
			onDisconnected: (reason) => this.#onWifiDown(reason),
		});
		this.#identity.resolve(); // connect() has started the WiFi driver: the MAC is there now
	}

	#onWifiUp(ip: string): void {
		if (this.#stopped || this.#wifiUp) return;
		this.#wifiUp = true;
		this.#wifiBackoff.reset();
		this.#clear("wifi");
		this.#log.info("wifi.connected", { ip, rssi: this.#p.wifi.rssi() });
		if (!this.#timeReady()) {
			this.#setState("TIME");
			this.#syncTime();
			return;
		}
		if (!this.#timeValid) this.#syncTime();
		this.#setState("MQTT");
		this.#scheduleAttempt(this.#promptDelay());
	}

	#onWifiDown(reason: string): void {
		if (this.#stopped) return;
		const wasUp = this.#wifiUp;
		this.#wifiUp = false;
		this.#clear("mqtt");
		this.#clear("time");
		if (wasUp || this.#state !== "WIFI") this.#log.warn("wifi.disconnected", { reason });
		else this.#log.warn("wifi.disconnected", { reason, joining: true });
		if (this.#client.state !== "disconnected") this.#client.close();
		this.#setState("WIFI");
		const delay = this.#wifiBackoff.next();
		this.#timers.wifi = this.#p.clock.set(() => {
			this.#timers.wifi = undefined;
			this.#joinWifi();
		}, delay);
	}

	/* Time -------------------------------------------------------------------------- */

	#timeReady(): boolean {
		if (this.#timeValid) return true;
		if (this.#config.auth.mode === "jwt") return false;
		return this.#p.clock.now() - this.#timeWaitSince >= this.#config.time.wait * 1000;
	}

	#syncTime(): void {
		if (this.#syncing || this.#stopped) return;
		this.#syncing = true;
		this.#clear("time");
		this.#log.info("time.syncing", { servers: this.#config.time.servers });
		this.#p.sntp.sync(this.#config.time.servers, (result) => {
			this.#syncing = false;
			if (this.#stopped) return;
			if (result.ok && result.epochMs > VALID_TIME_AFTER) this.#onTime(result.epochMs, result.server);
			else this.#onTimeFailed(result.ok ? `server ${result.server} returned ${new Date(result.epochMs).toISOString()}, before 2024` : result.error);
		});
	}

	#onTime(epochMs: number, server: string): void {
		const wasValid = this.#timeValid;
		const jumpMs = wasValid ? epochMs - this.#p.clock.wallTime() : undefined;
		this.#p.clock.setWallTime(epochMs);
		this.#timeValid = true;
		this.#log.info("time.synced", { epochMs, server, jumpMs });
		this.#timers.resync = this.#p.clock.set(() => {
			this.#timers.resync = undefined;
			if (this.#wifiUp) this.#syncTime();
		}, this.#config.time.resync * 1000);
		if (this.#state === "TIME") {
			this.#fault = false;
			this.#setState("MQTT");
			this.#scheduleAttempt(this.#promptDelay());
			return;
		}
		const moved = jumpMs !== undefined && Math.abs(jumpMs) > this.#config.time.jumpThreshold * 1000;
		if (moved && this.#config.auth.mode === "jwt" && this.#state === "ONLINE") this.#plannedReconnect("clock moved");
	}

	#onTimeFailed(error: string): void {
		const retryMs = this.#config.time.retry * 1000;
		this.#log.warn("time.failed", { error, retryMs });
		this.#note(`time sync failed: ${error}`);
		if (!this.#timeValid) {
			this.#fault = true;
			this.#updateLed();
		}
		this.#timers.time = this.#p.clock.set(() => {
			this.#timers.time = undefined;
			if (this.#wifiUp) this.#syncTime();
		}, retryMs);
		if (this.#state === "TIME" && this.#timeReady()) {
			this.#setState("MQTT");
			this.#scheduleAttempt(this.#promptDelay());
		}
	}

	/* MQTT attempts ------------------------------------------------------------------ */

	/** The soonest the next attempt may start: never closer than the floor to the previous one. */
	#promptDelay(): number {
		return Math.max(0, this.#lastAttemptAt + this.#config.mqtt.backoffMin * 1000 - this.#p.clock.now());
	}

	#scheduleAttempt(delay: number): void {
		this.#clear("mqtt");
		if (this.#stopped || !this.#wifiUp || !this.#timeReady()) return;
		this.#timers.mqtt = this.#p.clock.set(() => {
			this.#timers.mqtt = undefined;
			this.#attemptNow();
		}, delay);
	}

	#attemptNow(): void {
		if (this.#stopped || !this.#wifiUp || !this.#timeReady() || this.#client.state !== "disconnected") return;
		if (!this.#identity.require()) return this.#backOff(); // never under a made-up id: retry later
		this.#attempt++;
		this.#lastAttemptAt = this.#p.clock.now();
		this.#connectionId ??= connectionClientId(this.#identity.clientId, this.#config.mqtt.clientIdSuffix, this.#lastAttemptAt);
		this.#setState("MQTT");
		let options: ConnectOptions;
		try {
			options = this.#connectOptions();
		}
		catch (e) {
			this.#attemptFailed({ code: "invalid_config", state: -2, message: String(e instanceof Error ? e.message : e), wasConnected: false });
			return;
		}
		const connectBytes = this.#client.connectSize(options);
		this.#log.info("mqtt.connecting", { host: options.host, port: options.port, clientId: options.clientId, attempt: this.#attempt, connectBytes, tls: !!options.tls });
		const attempt = this.#attempt;
		const outcome = this.#client.connect(options);
		// A refusal the client has already reported through onClose (a transport that threw) is one failure, not two.
		if (!outcome.ok && this.#failedAttempt !== attempt) this.#attemptFailed({ ...outcome.error, wasConnected: false });
	}

	#connectOptions(): ConnectOptions {
		const { host, port, tls } = brokerAddress(this.#config.mqtt.url);
		const options: ConnectOptions = {
			host,
			port,
			clientId: this.connectionId,
			cleanStart: this.#config.mqtt.cleanSession,
			sessionExpiry: this.#config.mqtt.sessionExpiry,
			will: this.#hooks.will(),
		};
		if (tls) options.tls = { ca: this.#config.mqtt.ca, serverName: this.#config.mqtt.serverName || host };
		const auth = this.#config.auth;
		if (auth.mode === "jwt") {
			options.username = auth.username || this.connectionId;
			options.password = this.#mintToken();
		}
		else if (auth.mode === "password") {
			const c = (this.#credentials ??= this.#loadCredentials());
			options.username = c.username;
			options.password = c.password;
		}
		return options;
	}

	#mintToken(): string {
		const auth = this.#config.auth;
		const { token, claims } = mint({
			secret: auth.jwtSecret,
			now: this.#p.clock.wallTime() / 1000,
			ttl: auth.jwtTtl,
			issuer: auth.jwtIssuer,
			audience: auth.jwtAudience,
			subject: this.connectionId,
			hmac: this.#p.hmac,
		});
		this.#log.info("jwt.minted", { iat: claims.iat, exp: claims.exp, preview: preview(token) });
		return token;
	}

	#loadCredentials(): Credentials {
		const stored = this.#persisted.credentials();
		if (stored) return stored;
		return { username: this.#config.auth.username || this.#identity.clientId, password: this.#config.auth.password, verified: true };
	}

	/* Client events ------------------------------------------------------------------- */

	#createClient(): MQTTClient {
		const m = this.#config.mqtt;
		return new MQTTClient({
			transport: this.#p.tcp,
			clock: this.#p.clock,
			protocolVersion: m.protocolVersion,
			bufferSize: m.bufferSize,
			keepAlive: m.keepAlive,
			socketTimeout: m.socketTimeout,
			inflightWindow: m.inflightWindow,
			onConnect: (info) => this.#onConnected(info),
			onClose: (info) => this.#onClosed(info),
			onMessage: (message) => this.#hooks.onMessage(message),
			onDelivered: (id, reasonCode) => this.#onDelivered(id, reasonCode),
			onSubscribed: (_id, codes, subs) => this.#subscriptions.acknowledged(codes, subs),
			// A refused SUBSCRIBE is reported once, as mqtt.subscribe_failed (src/subscriptions.ts).
			onWarning: (d) => d.message.startsWith("SUBSCRIBE to ") ? undefined : this.#onWarning(d),
			onWritable: () => this.#publisher.drain(),
		});
	}

	#onConnected(info: ConnectInfo): void {
		if (this.#stopped) return;
		this.#attempt = 0;
		this.#fault = false;
		this.#connectedAt = this.#p.clock.now();
		this.#watchdog.disarm();
		this.#setState("ONLINE");
		this.#log.info("mqtt.connected", { sessionPresent: info.sessionPresent, keepAlive: info.keepAlive, resent: info.resent || undefined, clientId: this.connectionId });
		if (this.#credentials && !this.#credentials.verified) {
			this.#credentials = this.#persisted.accepted(this.#credentials);
			this.#log.info("credentials.verified", { username: this.#credentials.username });
		}
		this.#timers.stable = this.#p.clock.set(() => {
			this.#timers.stable = undefined;
			this.#backoff.reset();
			this.#shortSessions = 0;
		}, this.#config.mqtt.backoffReset * 1000);
		if (this.#config.auth.mode === "jwt") {
			const auth = this.#config.auth;
			const refresh = Math.min(auth.jwtRefresh, Math.max(30, auth.jwtTtl - 300)) * 1000;
			this.#timers.refresh = this.#p.clock.set(() => {
				this.#timers.refresh = undefined;
				this.#plannedReconnect("token refresh");
			}, refresh);
		}
		this.#hooks.onOnline(this.link, info);
		this.#publisher.drain();
	}

	#onClosed(info: CloseInfo): void {
		if (this.#stopped) return;
		this.#clear("stable");
		this.#clear("refresh");
		this.#clear("drain");
		this.#subscriptions.stop();
		this.#draining = false;
		if (!info.wasConnected) {
			this.#attemptFailed(info);
			return;
		}
		const planned = this.#planned;
		this.#planned = false;
		const lastedMs = this.#p.clock.now() - this.#connectedAt;
		if (!planned) {
			this.#log.warn("mqtt.disconnected", { reason: info.message, code: info.code, reasonCode: info.reasonCode, state: info.state, fix: info.fix, connectedMs: lastedMs });
			this.#note(`disconnected: ${info.message}`);
			this.#checkConflict(info, lastedMs);
		}
		else this.#log.info("mqtt.disconnected", { reason: "planned reconnect", code: info.code, state: info.state, connectedMs: lastedMs });
		this.#hooks.onOffline();
		this.#watchdog.arm();
		if (!this.#wifiUp) return;
		this.#setState("MQTT");
		if (planned) this.#scheduleAttempt(this.#promptDelay());
		else this.#backOff();
	}

	#attemptFailed(info: CloseInfo): void {
		this.#failedAttempt = this.#attempt;
		const fix = fixFor(info.code, this.#config.auth.mode) ?? info.fix;
		this.#log.error("mqtt.connect_failed", { reason: info.message, code: info.code, reasonCode: info.reasonCode, state: info.state, fix, attempt: this.#attempt });
		this.#note(`connect failed: ${info.message}`);
		if (info.code === "credentials_refused") this.#onCredentialsRefused();
		this.#fault = info.code === "credentials_refused" || info.code === "protocol_refused" || info.code === "client_id_rejected" || info.code === "tls_failed" || info.code === "connect_too_large" || info.code === "invalid_config";
		this.#updateLed();
		if (this.#watchdog.due) return this.#watchdog.failed();
		if (!this.#wifiUp) return;
		this.#backOff();
	}

	#onCredentialsRefused(): void {
		const auth = this.#config.auth;
		if (auth.mode === "password" && this.#credentials) {
			const refused = this.#credentials;
			const alternate = this.#persisted.swap(refused);
			if (alternate) {
				this.#credentials = alternate;
				if (!refused.verified) {
					this.#log.warn("credentials.rollback", { username: alternate.username });
					this.#note("the broker refused the rotated credentials; back to the previous ones");
				}
				else this.#log.info("credentials.retry", { username: alternate.username, reason: "the broker refused the current credentials; trying the rotated ones" });
			}
		}
		else if (auth.mode === "jwt" && this.#wifiUp) {
			// The token may have been judged against a wrong clock: check it before the next (fresh) token.
			this.#syncTime();
		}
	}

	#backOff(): void {
		const delayMs = this.#backoff.next();
		this.#log.info("mqtt.backoff", { delayMs, failures: this.#backoff.failures });
		this.#scheduleAttempt(delayMs);
	}

	#checkConflict(info: CloseInfo, lastedMs: number): void {
		const takeover = info.code === "session_taken_over" || (info.code === "connection_lost" && lastedMs < SHORT_SESSION_MS);
		if (!takeover) {
			this.#shortSessions = 0;
			return;
		}
		if (++this.#shortSessions < CONFLICT_THRESHOLD) return;
		this.#log.error("mqtt.client_id_conflict", {
			clientId: this.connectionId,
			sessions: this.#shortSessions,
			fix: `another device or client is connecting as "${this.connectionId}": give each device its own id (a distinct MAC, or mqtt.clientIdSuffix "boot")`,
		});
		this.#note(`client id conflict: ${this.connectionId} is used by another connection`);
	}

	#onDelivered(id: number, reasonCode: number): void {
		this.#publisher.delivered(id, reasonCode);
		if (this.#draining && this.#client.inflight === 0) this.#finishDrain();
		else this.#publisher.drain();
	}

	#onWarning(d: Diagnostic): void {
		this.#log.warn("mqtt.warning", { code: d.code, message: d.message, reasonCode: d.reasonCode, fix: d.fix });
		this.#note(d.message);
	}

	/* Planned reconnects ---------------------------------------------------------------- */

	#plannedReconnect(reason: string): void {
		if (this.#stopped) return;
		if (this.#state !== "ONLINE") {
			// Not connected: the next attempt uses fresh credentials anyway; make it prompt.
			if (this.#client.state === "disconnected" && this.#wifiUp && this.#timers.mqtt !== undefined) this.#scheduleAttempt(this.#promptDelay());
			return;
		}
		if (this.#draining) return;
		this.#log.info(reason === "token refresh" || reason === "clock moved" ? "jwt.refresh" : "mqtt.reconnect", { reason, inflight: this.#client.inflight });
		this.#draining = true;
		if (this.#client.inflight === 0) {
			this.#finishDrain();
			return;
		}
		this.#timers.drain = this.#p.clock.set(() => {
			this.#timers.drain = undefined;
			this.#finishDrain();
		}, DRAIN_MS);
	}

	#finishDrain(): void {
		this.#clear("drain");
		if (!this.#draining || this.#client.state !== "connected") return;
		this.#planned = true;
		this.#client.disconnect();
	}

	/* Helpers ------------------------------------------------------------------------------- */

	#setState(next: State): void {
		if (next === this.#state) return;
		const from = this.#state;
		this.#state = next;
		this.#log.info("state.changed", { from, to: next });
		this.#updateLed();
	}

	#updateLed(): void {
		this.#led.set(this.#ledPattern());
	}

	#ledPattern(): LedPattern {
		switch (this.#state) {
			case "BOOT":
			case "WIFI":
				return "fast";
			case "ONLINE":
				return this.#config.powerSaving ? "off" : "on";
			default:
				return this.#fault ? "error" : "slow";
		}
	}

	#note(problem: string): void {
		this.#problems.push(problem);
		if (this.#problems.length > MAX_PROBLEMS) this.#problems.shift();
	}

	#clear(key: TimerName): void {
		const t = this.#timers[key];
		if (t !== undefined) this.#p.clock.clear(t);
		this.#timers[key] = undefined;
	}
}

/*
 * Ports: every way the firmware touches hardware or the operating system, in one place.
 *
 * The logic in src/ and modules/ receives these and imports nothing else from the platform.
 * Moddable adapters (src/adapters/, wired in src/main.ts) implement them on the ESP32-S3; host
 * adapters (test-host/adapters/) implement them on Node, with a virtual clock for tests.
 * The reusable modules declare the smaller interfaces they need; these build on them.
 */

import type { MqttClock, TimerHandle, TransportFactory } from "mqttclient/transport";
import type { HmacSha256 } from "jwt";
import type { DhtClock, PulseCapture } from "dht/capture";
import type { DigitalOutput, LedTimers } from "statusled/output";

export type { TimerHandle, TransportFactory, HmacSha256, PulseCapture, DigitalOutput };

/** Monotonic time, wall-clock time and timers. */
export interface Clock extends MqttClock, DhtClock, LedTimers {
	/** Milliseconds since boot; never jumps. */
	now(): number;
	/** Wall-clock time in ms since 1970 (whatever the device believes; before SNTP it is near 0). */
	wallTime(): number;
	/** Sets the wall clock (after SNTP). */
	setWallTime(epochMs: number): void;
	/** Calls `callback` once after `ms` milliseconds. */
	set(callback: () => void, ms: number): TimerHandle;
	/** Calls `callback` every `ms` milliseconds until cleared. */
	repeat(callback: () => void, ms: number): TimerHandle;
	clear(handle: TimerHandle): void;
}

export interface WiFiEvents {
	onConnected(ip: string): void;
	/** The link is down (or the join failed), with the reason in words. */
	onDisconnected(reason: string): void;
}

export interface WiFi {
	/** Starts joining; events follow. A later call replaces the previous attempt. */
	connect(options: { ssid: string; password: string }, events: WiFiEvents): void;
	disconnect(): void;
	/** Signal strength in dBm, or undefined when not associated. */
	rssi(): number | undefined;
	/**
	 * Station MAC address, "AA:BB:CC:DD:EE:FF"; undefined until the WiFi driver is initialised.
	 * On the ESP32 that is at boot when the SDK joins the network itself (Moddable's `ssid=`), and
	 * otherwise only once connect() has started the driver (`wifi_ssid=`): the client id is derived
	 * from it, so it must never be replaced by a made-up value (see src/identity.ts).
	 */
	mac(): string | undefined;
}

export type SntpResult = { ok: true; epochMs: number; server: string } | { ok: false; error: string };

export interface SNTP {
	/** Asks the servers in turn; calls back once with the time or why none answered. */
	sync(servers: readonly string[], callback: (result: SntpResult) => void): void;
}

export type StoredValue = string | number | boolean;

/** Persistent key-value store (Moddable preference / a file). Keys are at most 15 characters. */
export interface KeyValueStore {
	get(key: string): StoredValue | undefined;
	set(key: string, value: StoredValue): void;
	delete(key: string): void;
}

export interface Random {
	/** Uniform in [0, 1). */
	float(): number;
	bytes(length: number): Uint8Array;
}

export interface System {
	/** Restarts the device; does not return on the board. */
	restart(reason: string): void;
	/** Free heap in bytes, when the platform can tell. */
	freeMemory(): number | undefined;
}

export interface LogRecord {
	/** Wall-clock time, ISO 8601; null while the wall clock has not been set (before SNTP). */
	ts: string | null;
	uptimeMs: number;
	level: "info" | "warn" | "error";
	/** "<area>.<what>", e.g. "mqtt.connected". */
	event: string;
	[field: string]: unknown;
}

/** Where log records go (the serial console on the board, stdout on the host). */
export type LogSink = (record: LogRecord) => void;

export interface Ports {
	clock: Clock;
	wifi: WiFi;
	sntp: SNTP;
	/** Opens TCP (or TLS) connections. */
	tcp: TransportFactory;
	/** The status LED. */
	led: DigitalOutput;
	/** The switched output that SET_POWER and light/control drive, when the board has one. */
	power?: DigitalOutput;
	/** The DHT data line. */
	dht: PulseCapture;
	store: KeyValueStore;
	hmac: HmacSha256;
	random: Random;
	system: System;
	log: LogSink;
}

/** What a board contributes: the ports whose implementation differs from board to board. */
export type BoardPorts = Pick<Ports, "wifi" | "tcp" | "led" | "power" | "dht" | "system">;

/** What src/main.ts hands the board's wiring (the module "board": platforms/<board>/board.ts). */
export interface BoardSetup {
	/** The build configuration (mc/config); the board reads its pins from it. */
	config: Readonly<Record<string, unknown>>;
	clock: Clock;
	/** Whether the firmware reads a DHT (sensor model not "none"): otherwise its pin is left alone. */
	sensor: boolean;
	/** Reports a part that could not be set up; it is left out and the device runs without it. */
	problem(text: string): void;
}

export interface BoardWiring {
	ports: BoardPorts;
	/** Setup mode's parts (src/provisioning/), on boards that can open an access point. */
	provisioning?: { setup: SetupPorts; button?: Button };
	/** Firmware update ports, when the board has an update slot (src/ota/). */
	ota?: OtaPorts;
	/** Called once the device runs, with what a board may need of it (the Linux target's clean stop). */
	started?(device: { shutdown(done?: () => void): void }): void;
}

/* Provisioning (src/provisioning/): setup mode's access point, web server and captive DNS ------ */

export interface ScannedNetwork {
	ssid: string;
	/** dBm. */
	rssi: number;
	/** Whether the network asks for a password. */
	secure: boolean;
}

export interface AccessPoint {
	/** Starts the WiFi driver in station + access point mode, so that WiFi.mac() answers. */
	prepare(): void;
	/** Opens the access point (the station can still join a network beside it); returns its IP address. */
	start(options: { ssid: string; password: string }): string;
	stop(): void;
	/** The networks in range, strongest first; calls back once. */
	scan(callback: (networks: ScannedNetwork[]) => void): void;
}

export interface HttpRequest {
	method: string;
	/** The path with its query, e.g. "/api/status". */
	path: string;
	/** The body as text ("" when none); at most the server's limit. */
	body: string;
}

export interface HttpReply {
	status: number;
	contentType: string;
	body: string;
	/** The Location header of a redirect. */
	location?: string;
}

/** A request handler: calls `reply` once, now or later. */
export type HttpHandler = (request: HttpRequest, reply: (response: HttpReply) => void) => void;

export interface HttpServerHandle {
	close(): void;
}

export interface HttpServers {
	/** Serves `handler` on `port` (0: any free port on the host); `listening` gets the port once it listens. */
	listen(port: number, handler: HttpHandler, listening: (port: number) => void): HttpServerHandle;
}

export interface DnsServers {
	/** Answers every A query with `address` (the captive portal); `port` is 53 on the board (0: any free port). */
	start(address: string, port: number, listening: (port: number) => void): { close(): void };
}

export type HttpResult = { ok: true; status: number; body: string } | { ok: false; error: string };

export interface HttpClient {
	/** POSTs `body` (JSON) to an http:// or https:// URL; calls back once. */
	postJson(url: string, body: string, callback: (result: HttpResult) => void): void;
}

/** What setup mode needs beyond the ports every boot has. */
export interface SetupPorts {
	ap: AccessPoint;
	http: HttpServers;
	dns: DnsServers;
	httpClient: HttpClient;
}

/** A push button (the BOOT button, GPIO 0): calls back after a press of at least `ms`. */
export interface Button {
	onLongPress(ms: number, callback: () => void): void;
	close(): void;
}

/* Firmware updates (src/ota/) ------------------------------------------------------------- */

/** SHA-256 fed piece by piece. */
export interface Digest {
	update(bytes: Uint8Array): void;
	/** The 32-byte digest; the Digest is spent afterwards. */
	finish(): Uint8Array;
}

export interface OtaCrypto {
	sha256(): Digest;
	/**
	 * ECDSA P-256 with SHA-256: whether `signature` (r || s, 64 bytes) signs `message` for
	 * `publicKey` (the uncompressed point, 65 bytes 04 || X || Y). False for anything malformed.
	 */
	verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** The update slot: the image goes in piece by piece and boots only once finished. */
export interface FirmwareWriter {
	/** Largest image the update slot holds, in bytes. */
	readonly capacity: number;
	/** Starts writing an image of `size` bytes (erasing the slot). Throws with the reason. */
	begin(size: number): void;
	/** Appends bytes. Throws with the reason. */
	write(bytes: Uint8Array): void;
	/** Completes the image and makes it the next boot (first boot pending verification). Throws with the reason. */
	finish(): void;
	/** Gives up the image being written: the slot never boots. Never throws. */
	abort(): void;
}

export interface BootControl {
	/** The running image's version and the slot it booted from. */
	running(): { version: string; slot: string };
	/** First boot of a new image that has not confirmed itself: the next reset rolls it back. */
	pendingVerify(): boolean;
	/** Confirms the running image: the bootloader keeps it. */
	markValid(): void;
	/** Gives up the running (pending) image: the previous one boots. Does not return on the board. */
	rollback(reason: string): void;
}

/** What the updater needs besides the device's clock, store and log. */
export interface OtaPorts {
	writer: FirmwareWriter;
	boot: BootControl;
	crypto: OtaCrypto;
	/** Where the image is downloaded through (usually the device's own `tcp`). */
	http: TransportFactory;
}

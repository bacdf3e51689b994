/*
 * XS benchmark on Moddable's Linux runtime: our client and Moddable's `mqtt` module publish to one
 * local Mosquitto over Moddable's real socket, in alternating phases (ours, Moddable's, ours...), so
 * that a slow spell of the machine hits both. The runner (test-host/bench/xs/linux.ts) reads this
 * process's CPU time (/proc/<pid>/stat) when a phase starts and ends: each phase prints
 * "phase <name> begin" and "phase <name> end <messages> <ms>" and then idles for a moment, so the
 * runner's reading falls in the idle gap.
 *
 * Settings come from the environment: BENCH_PORT (Mosquitto's port), BENCH_MESSAGES (QoS 0 messages
 * per phase), BENCH_QOS1_MESSAGES, BENCH_ROUNDS, BENCH_JWT (tokens per JWT phase).
 */

import { exit, getenv } from "linux/host";
import Timer from "timer";
import Time from "time";
import ModdableClient from "mqtt";
import { MQTTClient } from "mqttclient";
import { mint } from "jwt";
import { moddableTcp } from "adapters/socket";
import { ModdableClock } from "adapters/clock";
import { moddableHmac } from "adapters/crypto";

declare function trace(text: string): void;

const timers = Timer as unknown as { set(callback: () => void, ms: number): unknown };
const ticks = (): number => (Time as unknown as { ticks: number }).ticks;

function setting(name: string, fallback: number): number {
	const text = getenv(name) as string | undefined;
	const n = text ? Number(text) : NaN;
	return Number.isInteger(n) && n > 0 ? n : fallback;
}

const PORT = setting("BENCH_PORT", 1883);
const MESSAGES = setting("BENCH_MESSAGES", 20000);
const QOS1_MESSAGES = setting("BENCH_QOS1_MESSAGES", 2000);
const ROUNDS = setting("BENCH_ROUNDS", 3);
const JWT_TOKENS = setting("BENCH_JWT", 2000);
const TOPIC = "bench/xs/sensor_a1b2c3d4e5f6/telemetry";
const IDLE_MS = 100;
/**
 * Messages per turn before yielding for a millisecond (both clients alike): the SDK's Linux socket
 * throws "write failed" when the kernel's send buffer is full (send() EAGAIN) and its write() room
 * never reflects that buffer, so neither client can see that Mosquitto is behind; the pace keeps
 * Mosquitto ahead. CPU per message is what is compared, and idle time costs none.
 */
const BATCH = 16;
/** Our client's in-flight window (the firmware's default). */
const WINDOW = 8;

function payloadBytes(size: number): Uint8Array {
	const text = '{"t":1732262400,"temperature":21.5,"humidity":48.2,"rssi":-61,"seq":0,"pad":"';
	const bytes = new Uint8Array(size).fill(0x78);
	for (let i = 0; i < text.length && i < size; i++) bytes[i] = text.charCodeAt(i);
	bytes[size - 1] = 0x7d;
	return bytes;
}

const PAYLOAD = payloadBytes(256);

function idle(): Promise<void> {
	return new Promise((resolve) => timers.set(resolve, IDLE_MS));
}

/** Marks a phase for the runner, idles, runs it, marks its end, idles. */
async function phase(name: string, run: () => Promise<number>): Promise<void> {
	trace(`phase ${name} begin\n`);
	await idle();
	const started = ticks();
	const count = await run();
	const ms = ticks() - started;
	trace(`phase ${name} end ${count} ${ms}\n`);
	await idle();
}

/* Ours ------------------------------------------------------------------------------------------ */

interface Ours {
	client: MQTTClient;
	wake: (() => void) | undefined;
}

function oursConnect(id: string): Promise<Ours> {
	return new Promise((resolve, reject) => {
		const o: Ours = { client: undefined as unknown as MQTTClient, wake: undefined };
		o.client = new MQTTClient({
			transport: moddableTcp(),
			clock: new ModdableClock(),
			bufferSize: 1024,
			inflightWindow: WINDOW,
			keepAlive: 60,
			onConnect: () => resolve(o),
			onClose: (info) => reject(new Error(`ours closed: ${info.message}`)),
			onWritable: () => o.wake?.(),
			onDelivered: () => o.wake?.(),
		});
		const outcome = o.client.connect({ host: "127.0.0.1", port: PORT, clientId: id });
		if (!outcome.ok) reject(new Error(outcome.error.message));
	});
}

function oursPublish(o: Ours, total: number, qos: 0 | 1): Promise<number> {
	return new Promise((resolve, reject) => {
		let sent = 0;
		// QoS 0 without options, as Moddable's module is called without flags.
		const options = qos === 0 ? undefined : { qos };
		const pump = (): void => {
			o.wake = undefined;
			let batch = 0;
			while (sent < total) {
				if (++batch > BATCH) {
					timers.set(pump, 1);
					return;
				}
				if (qos === 1 && o.client.inflight >= WINDOW) {
					// A full window: wait for an acknowledgement rather than be refused (the firmware's
					// publisher queues the same way).
					o.wake = pump;
					return;
				}
				const r = o.client.publish(TOPIC, PAYLOAD, options);
				if (!r.ok) {
					if (r.error.code !== "busy" && r.error.code !== "inflight_full") {
						reject(new Error(r.error.message));
						return;
					}
					o.wake = pump;
					return;
				}
				sent++;
			}
			if (qos === 0 || o.client.inflight === 0) resolve(sent);
			else o.wake = () => { if (o.client.inflight === 0) resolve(sent); };
		};
		pump();
	});
}

/* Moddable's mqtt --------------------------------------------------------------------------------- */

interface Theirs {
	client: { publish(topic: string, data: ArrayBuffer, flags?: object): void; ws: { write(): number }; close(): void };
}

function theirsConnect(id: string): Promise<Theirs> {
	return new Promise((resolve, reject) => {
		const client = new (ModdableClient as unknown as new (d: object) => Theirs["client"] & { onReady?: () => void; onClose?: () => void })({ host: "127.0.0.1", port: PORT, id });
		client.onReady = () => resolve({ client });
		client.onClose = () => reject(new Error("Moddable's client closed"));
	});
}

/**
 * QoS 0 as fast as its socket takes it: Moddable's module has no backpressure (a write that does
 * not fit throws), so the pump publishes while the socket's free room holds a packet and otherwise
 * waits for the next turn.
 */
function theirsPublish(t: Theirs, total: number): Promise<number> {
	const data = PAYLOAD.slice().buffer as ArrayBuffer;
	return new Promise((resolve) => {
		let sent = 0;
		const pump = (): void => {
			let batch = 0;
			while (sent < total) {
				if (++batch > BATCH || t.client.ws.write() < 400) {
					timers.set(pump, 1);
					return;
				}
				t.client.publish(TOPIC, data);
				sent++;
			}
			resolve(sent);
		};
		pump();
	});
}

/**
 * QoS 0 in bursts of `burst` messages every `gapMs`: Moddable's module at the pace our QoS 1 phase
 * ran at (a window of 8 per round trip, which this port's polling makes tens of milliseconds), so
 * the two phases meet the same runtime work per burst (timers, socket polls) and the same idle
 * time, and differ by what the clients do.
 */
function theirsPublishPaced(t: Theirs, total: number, burst: number, gapMs: number): Promise<number> {
	const data = PAYLOAD.slice().buffer as ArrayBuffer;
	return new Promise((resolve) => {
		let sent = 0;
		const pump = (): void => {
			for (let i = 0; i < burst && sent < total; i++, sent++) t.client.publish(TOPIC, data);
			if (sent < total) timers.set(pump, gapMs);
			else resolve(sent);
		};
		pump();
	});
}

/* Main ---------------------------------------------------------------------------------------------- */

async function main(): Promise<void> {
	const ours = await oursConnect("bench-xs-ours");
	const theirs = await theirsConnect("bench-xs-moddable");
	// Warm-up, not measured.
	await oursPublish(ours, 1000, 0);
	await theirsPublish(theirs, 1000);
	for (let round = 1; round <= ROUNDS; round++) {
		// Which client goes first alternates: the first QoS 0 phase of a round follows the previous
		// round's JWT phase, whose garbage the collector may still be working off.
		if (round % 2) {
			await phase(`ours-q0 ${round}`, () => oursPublish(ours, MESSAGES, 0));
			await phase(`moddable-q0 ${round}`, () => theirsPublish(theirs, MESSAGES));
		}
		else {
			await phase(`moddable-q0 ${round}`, () => theirsPublish(theirs, MESSAGES));
			await phase(`ours-q0 ${round}`, () => oursPublish(ours, MESSAGES, 0));
		}
		const q1Started = ticks();
		await phase(`ours-q1 ${round}`, () => oursPublish(ours, QOS1_MESSAGES, 1));
		// The phase's wall time less its two idle gaps, per window.
		const perWindow = Math.max(1, Math.round((ticks() - q1Started - 2 * IDLE_MS) / (QOS1_MESSAGES / WINDOW)));
		await phase(`moddable-q0-paced ${round}`, () => theirsPublishPaced(theirs, QOS1_MESSAGES, WINDOW, perWindow));
		// The runtime's own cost while nothing is sent (the Linux socket port polls every 20 ms),
		// per millisecond: the QoS 1 phase, paced by that polling, is shown with and without it.
		await phase(`idle ${round}`, async () => {
			await new Promise((resolve) => timers.set(resolve as () => void, 2000));
			return 2000;
		});
		await phase(`jwt ${round}`, async () => {
			for (let i = 0; i < JWT_TOKENS; i++)
				mint({ secret: "device-secret-0123456789abcdef", now: 1732262400 + i, ttl: 3600, issuer: "sensor-fleet", audience: "emqx", subject: "sensor_a1b2c3d4e5f6", hmac: moddableHmac });
			return JWT_TOKENS;
		});
	}
	trace("bench done\n");
	exit(0);
}

main().catch((e: unknown) => {
	trace(`bench failed: ${String(e)}\n`);
	exit(1);
});

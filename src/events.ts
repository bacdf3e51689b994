/*
 * Structured events: what the device reports about its life, as records that the log sink writes
 * either as JSON lines (for tools) or as the serial-monitor lines users of such firmware know.
 *
 * Event names are a stable contract ("<area>.<what>"); other tools read them.
 * Secrets never go into a record: a JWT appears only as its first 20 characters.
 *
 * `ts` is the wall-clock time, or null while the wall clock has not been set: before SNTP the
 * board's clock counts from 1970, and a 1970 date in a log is a lie a person has to see through.
 *
 * Every warning and error line names its cause (the record's reason, error, message or detail)
 * and, when the record has one, puts the fix on its own line.
 */

import { deepFreeze } from "frozen";
import type { Clock, LogRecord, LogSink } from "./ports";

export type Level = LogRecord["level"];
export type Fields = Record<string, unknown>;

/**
 * A wall clock reading before this (2024-01-01T00:00:00Z) has not been set: the firmware itself
 * accepts no SNTP answer before it (supervisor.ts, VALID_TIME_AFTER).
 */
export const WALL_CLOCK_SET_AFTER = 1704067200000;

/** The record's `ts` for a wall-clock reading: ISO 8601, or null when the clock is not set. */
export function timestamp(epochMs: number): string | null {
	return epochMs > WALL_CLOCK_SET_AFTER ? isoTime(epochMs) : null;
}

export class Logger {
	readonly #clock: Clock;
	readonly #sink: LogSink;

	constructor(clock: Clock, sink: LogSink) {
		this.#clock = clock;
		this.#sink = sink;
	}

	info(event: string, fields: Fields = {}): void {
		this.#emit("info", event, fields);
	}
	warn(event: string, fields: Fields = {}): void {
		this.#emit("warn", event, fields);
	}
	error(event: string, fields: Fields = {}): void {
		this.#emit("error", event, fields);
	}

	#emit(level: Level, event: string, fields: Fields): void {
		// ts is null until the clock is set; `as` because ports.ts has typed it as a string.
		const record = { ts: timestamp(this.#clock.wallTime()), uptimeMs: this.#clock.now(), level, event } as LogRecord;
		for (const key in fields) if (fields[key] !== undefined) record[key] = fields[key];
		try {
			this.#sink(record);
		}
		catch {
			// A broken console must not take the device down.
		}
	}
}

/** ISO 8601 in UTC, e.g. 2026-11-22T08:00:00.000Z (Date's own method, which XS implements). */
export function isoTime(epochMs: number): string {
	return new Date(epochMs).toISOString();
}

export function formatJson(record: LogRecord): string {
	return JSON.stringify(record);
}

type Formatter = (r: LogRecord) => string;

const str = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

/** An MQTT diagnostic: what happened (`reason` in connection events, `message` in warnings), then state and code. */
function diagnosticLine(r: LogRecord): string {
	const parts: string[] = [];
	const what = str(r.reason) || str(r.message);
	if (what) parts.push(what);
	if (r.state !== undefined) parts.push(`(state ${str(r.state)}${r.code ? `, ${str(r.code)}` : ""})`);
	else if (r.code) parts.push(`(${str(r.code)})`);
	return parts.join(" ");
}

/** The fields that say why something failed, in the order a person reads them. */
const CAUSES: readonly string[] = deepFreeze(["reason", "error", "message", "detail"]);

/**
 * A warning or error line with its cause and fix: any cause the event's formatter left out is
 * added (so a new event, or a new field, cannot go unexplained), and the fix goes on its own line.
 */
function withCause(line: string, r: LogRecord): string {
	for (const key of CAUSES) {
		const text = typeof r[key] === "object" && r[key] !== null ? JSON.stringify(r[key]) : str(r[key]);
		if (text && !line.includes(text)) line += ` (${key}: ${text})`;
	}
	const fix = str(r.fix);
	if (fix && !line.includes(fix)) line += `\n   ↳ fix: ${fix}`;
	return line;
}

function reading(r: LogRecord): string {
	const t = r.temperature;
	const h = r.humidity;
	const parts: string[] = [];
	if (typeof t === "number") parts.push(`Temperature: ${t.toFixed(1)}°C`);
	if (typeof h === "number") parts.push(`Humidity: ${h.toFixed(1)}%`);
	return parts.join("  ");
}

const HUMAN: Record<string, Formatter> = deepFreeze({
	"device.boot": (r) => `🚀 Booting ${str(r.firmware)} ${str(r.firmwareVersion)}${r.clientId ? ` as ${str(r.clientId)}` : ", client id once WiFi has started"} (reboot reason: ${str(r.rebootReason) || "power on"})`,
	"identity.ready": (r) => `🆔 Client id: ${str(r.clientId)} (MAC ${str(r.mac)})`,
	"identity.unavailable": (r) => `❌ No client id, not connecting to MQTT: ${str(r.reason)}`,
	"state.changed": (r) => `ℹ️  State: ${str(r.from)} → ${str(r.to)}`,
	"wifi.connecting": (r) => `📶 Connecting to WiFi "${str(r.ssid)}"...`,
	"wifi.connected": (r) => `✅ WiFi connected! IP: ${str(r.ip)}`,
	"wifi.disconnected": (r) => `❌ WiFi disconnected: ${str(r.reason)}`,
	"time.syncing": (r) => `🕒 Syncing time with ${str((r.servers as string[] | undefined)?.join(", "))}...`,
	"time.synced": (r) => `✅ Time synchronized! ${isoTime(Number(r.epochMs))}${r.jumpMs ? ` (clock moved ${Math.round(Number(r.jumpMs) / 1000)} s)` : ""}`,
	"time.failed": (r) => `❌ Time sync failed: ${str(r.error)} (retrying in ${Math.round(Number(r.retryMs) / 1000)} s)`,
	"jwt.minted": (r) => `✅ JWT generated: ${str(r.preview)} (expires ${isoTime(Number(r.exp) * 1000)})`,
	"jwt.refresh": (r) => `🔄 Refreshing JWT before it expires (${str(r.reason)})`,
	"mqtt.connecting": (r) => `🔌 Connecting to MQTT ${str(r.host)}:${str(r.port)} as ${str(r.clientId)} (attempt ${str(r.attempt)}, CONNECT ${str(r.connectBytes)} bytes)...`,
	"mqtt.connected": (r) => `✅ MQTT connected!${r.sessionPresent ? " (session resumed)" : ""}`,
	"mqtt.connect_failed": (r) => `❌ MQTT connection failed: ${diagnosticLine(r)}`,
	"mqtt.disconnected": (r) => `❌ MQTT disconnected: ${diagnosticLine(r)}`,
	"mqtt.backoff": (r) => `⏳ Next MQTT attempt in ${(Number(r.delayMs) / 1000).toFixed(1)} s`,
	"mqtt.subscribed": (r) => `✅ Subscribed to: ${str(r.topic)}`,
	"mqtt.warning": (r) => `⚠️  MQTT: ${diagnosticLine(r)}`,
	"mqtt.client_id_conflict": (r) => `❌ Client id conflict: another connection keeps taking over "${str(r.clientId)}"`,
	"telemetry.published": (r) => `✅ ${reading(r) || "Telemetry sent (no reading)"}  → ${str(r.topic)} (${str(r.bytes)} bytes, seq ${str(r.seq)})`,
	"telemetry.queued": (r) => `📥 Telemetry seq ${str(r.seq)} kept for later (${str(r.reason)}; ${str(r.queued)} waiting)`,
	"telemetry.dropped": (r) => `⚠️  Telemetry dropped: ${str(r.reason)}`,
	"heartbeat.published": (r) => `💓 Heartbeat (uptime ${str(r.uptime)} s)`,
	"status.published": (r) => `📣 Status: ${r.online ? "online" : "offline"}`,
	"response.published": (r) => `📤 Response → ${str(r.topic)}`,
	"alert.published": (r) => `📤 Alert → ${str(r.topic)}`,
	"alert_cleared.published": (r) => `📤 Alert cleared → ${str(r.topic)}`,
	"mqtt.dropped": (r) => `⚠️  ${str(r.kind)} to ${str(r.topic)} not sent: ${str(r.reason)}`,
	"mqtt.reconnect": (r) => `🔄 Reconnecting (${str(r.reason)})`,
	"sensor.failed": (r) => `❌ Sensor read failed: ${str(r.error)}${r.detail ? ` (${str(r.detail)})` : ""}`,
	"command.received": (r) => `📩 Command: ${str(r.type)}${r.commandId ? ` (${str(r.commandId)})` : ""}`,
	"command.rejected": (r) => `❌ Command rejected: ${str(r.reason)}`,
	"command.duplicate": (r) => `ℹ️  Command ${str(r.commandId)} already executed; answering again`,
	"command.completed": (r) => `✅ Command ${str(r.type)} ${str(r.status)}${r.error ? `: ${str(r.error)}` : ""}`,
	"power.changed": (r) => `💡 Power ${r.on ? "ON" : "OFF"}${r.brightness !== undefined ? ` (brightness ${str(r.brightness)}%)` : ""}`,
	"config.applied": (r) => `⚙️  Config applied: ${str((r.changed as string[] | undefined)?.join(", ")) || "no change"}`,
	"config.rejected": (r) => `❌ Config rejected: ${str(r.reason)}`,
	"alert.raised": (r) => `🚨 Alert: ${str(r.metric)} ${str(r.value)} above ${str(r.threshold)}`,
	"alert.cleared": (r) => `✅ Alert cleared: ${str(r.metric)} back to ${str(r.value)}`,
	"credentials.rotated": (r) => `🔑 New credentials stored for ${str(r.username)}; used from the next connection`,
	"credentials.retry": (r) => `🔑 Trying the rotated credentials for ${str(r.username)}`,
	"credentials.verified": (r) => `✅ New credentials accepted for ${str(r.username)}`,
	"credentials.rollback": (r) => `↩️  Broker refused the new credentials; back to the previous ones (${str(r.username)})`,
	"led.pattern": (r) => `💡 LED: ${str(r.pattern)}`,
	"ota.accepted": (r) => `📦 Firmware update ${str(r.from)} → ${str(r.version)} accepted (${str(r.size)} bytes from ${str(r.url)})`,
	"ota.progress": (r) => `📦 Downloading ${str(r.version)}: ${str(r.percent)}% (${str(r.bytes)}/${str(r.total)} bytes)`,
	"ota.retry": (r) => `📦 Download of ${str(r.version)} broke at ${str(r.bytes)}/${str(r.total)} bytes (${str(r.reason)}); resuming in ${str(r.inMs)} ms`,
	"ota.verified": (r) => `✅ Firmware ${str(r.version)} verified (SHA-256 ${str(r.sha256)}…)`,
	"ota.rebooting": (r) => `🔁 Restarting into firmware ${str(r.version)}`,
	"ota.confirming": (r) => `📦 New firmware ${str(r.version)} on its first boot: confirms after ${str(r.confirmAfterS)} s online, else rolls back after ${str(r.rollbackAfterS)} s`,
	"ota.succeeded": (r) => `✅ Firmware update to ${str(r.version)} succeeded`,
	"ota.refused": (r) => `❌ Firmware ${str(r.version)} refused: ${str(r.reason)}`,
	"ota.failed": (r) => `❌ Firmware update to ${str(r.version)} failed: ${str(r.reason)}`,
	"ota.rolled_back": (r) => `↩️  Firmware ${str(r.version)} was rolled back, running ${str(r.running)} again: ${str(r.reason)}`,
	"watchdog.restart": (r) => `🔁 ${str(r.reason)}: restarting`,
	"store.warning": (r) => `⚠️  Stored ${str(r.key)} ignored: ${str(r.reason)}`,
});

/** The line a serial monitor shows for this record (a fix goes on a second line). */
export function formatHuman(record: LogRecord): string {
	const f = HUMAN[record.event];
	const line = f ? f(record) : fallback(record);
	return record.level === "info" ? line : withCause(line, record);
}

/** An event without its own line: its name and fields (the fix apart, on its own line). */
function fallback(record: LogRecord): string {
	const icon = record.level === "error" ? "❌" : record.level === "warn" ? "⚠️ " : "ℹ️ ";
	const extra: string[] = [];
	for (const key in record) {
		if (key === "ts" || key === "uptimeMs" || key === "level" || key === "event" || key === "fix") continue;
		extra.push(`${key}=${typeof record[key] === "object" ? JSON.stringify(record[key]) : str(record[key])}`);
	}
	const line = `${icon} ${record.event}${extra.length ? " " + extra.join(" ") : ""}`;
	return record.fix ? `${line}\n   ↳ fix: ${str(record.fix)}` : line;
}

/*
 * The fleet tool's flags: its own (--devices, --ramp, --fault, ...) plus the one-device flags of
 * `npm start`, parsed by the same table and checks (test-host/cli.ts), so a fleet is configured
 * exactly as one device is.
 */

import { FLAGS, UsageError, buildConfig, parseValue, type Options as DeviceOptions } from "../cli";
import type { DeviceConfig } from "../../src/settings";

export { UsageError };

export const FAULT_KINDS = ["drop-all", "restart-broker"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface PlannedFault {
	kind: FaultKind;
	/** Milliseconds after the fleet started. */
	atMs: number;
}

export interface FleetOptions {
	devices: number;
	/** Devices booted per second. */
	ramp: number;
	broker: "embedded" | "mosquitto" | "url";
	/** Telemetry interval spread: each device's interval is uniform in interval ± jitter %. */
	jitter: number;
	faults: PlannedFault[];
	/** Where the JSON summary goes: a file, or "-" for stdout (the default). */
	summary: string;
	/** No status line (the summary still comes). */
	quiet: boolean;
	/** Run this long after the last device booted, then stop (seconds); until Ctrl-C or "quit" when absent. */
	duration?: number;
	/** The first device's MAC; the others count up from it. */
	mac: string;
	/** The device configuration every device starts from (broker URL set later for a local broker). */
	config: DeviceConfig;
	/** Whether --auth was given (else the broker decides: jwt for aedes and URLs, password for Mosquitto). */
	authGiven: boolean;
}

export const MAX_DEVICES = 100_000;
/** The default MAC base: Espressif's OUI, device part counting from 0. */
export const DEFAULT_MAC = "24:6F:28:00:00:00";

export const HELP = `Usage: npm run fleet -- --devices N [options]

Runs N simulated sensor nodes in this process, each with its own MAC, client id, credentials,
store, state machine and TCP connection, against one broker; prints a status line every second
and a JSON summary at the end. See docs/fleet.md.

Fleet options:
  --devices N                how many devices (1 to ${MAX_DEVICES})
  --ramp N                   devices booted per second (default 100)
  --mosquitto                start a local Mosquitto (Debian's) with one user per device
  --broker URL               an existing broker (mqtt://host:port or mqtts://host:port);
                             without it and without --mosquitto: the embedded broker (aedes)
  --jitter PERCENT           each device's telemetry interval is uniform in interval ± PERCENT
                             (0 to 50, default 10)
  --fault KIND@TIME          a fault at TIME after the start (90s, 2m, 1500ms): drop-all (every
                             connection reset at once) or restart-broker (local brokers); repeatable
  --duration SECONDS         after the last device booted, run this long, then stop
                             (default: until Ctrl-C, "quit" on stdin or q on the terminal)
  --summary FILE             write the JSON summary to FILE (default: stdout; "-" is stdout)
  --quiet                    no status line
  --device-mac MAC           the first device's MAC (default ${DEFAULT_MAC}); the rest count up

Device options (as for npm start; see npm start -- --help):
  --auth jwt|password|none, --jwt-secret, --jwt-issuer, --jwt-audience, --jwt-ttl, --jwt-refresh,
  --username, --password (with --auth password against --broker: "{n}" is replaced by the device
  number, "{id}" by its client id), --telemetry-interval, --heartbeat-interval, --topic-scheme,
  --mqtt-version, --ca, --config FILE

While it runs, on a terminal: d = drop all connections, r = restart the broker, q = quit;
on stdin (not a terminal): the lines "drop-all", "restart-broker", "status", "quit".
`;

/** Device flags that make no sense for a fleet, with the reason. */
const NOT_FOR_A_FLEET: Record<string, string> = {
	"--target": "a fleet runs the simulated devices in this process (--target linux runs one firmware process)",
	"--data-dir": "fleet devices keep their preferences in memory",
	"--log": "a fleet prints a status line and a summary, not every device's log",
};

type FleetFlag = { kind: "count"; max: number; apply: (o: Partial<FleetOptions>, v: number) => void }
	| { kind: "switch"; apply: (o: Partial<FleetOptions>) => void }
	| { kind: "string"; apply: (o: Partial<FleetOptions>, v: string) => void };

const FLEET_FLAGS: Record<string, FleetFlag> = {
	"--devices": { kind: "count", max: MAX_DEVICES, apply: (o, v) => { o.devices = v; } },
	"--ramp": { kind: "count", max: 100_000, apply: (o, v) => { o.ramp = v; } },
	"--mosquitto": { kind: "switch", apply: (o) => { o.broker = "mosquitto"; } },
	"--quiet": { kind: "switch", apply: (o) => { o.quiet = true; } },
	"--summary": { kind: "string", apply: (o, v) => { o.summary = v; } },
	"--jitter": { kind: "string", apply: (o, v) => { o.jitter = parseJitter(v); } },
	"--fault": { kind: "string", apply: (o, v) => { (o.faults ??= []).push(parseFault(v)); } },
};

function parseJitter(raw: string): number {
	const m = /^(\d+(?:\.\d+)?)%?$/.exec(raw);
	if (!m || Number(m[1]) > 50) throw new UsageError(`--jitter must be a percentage from 0 to 50, not "${raw}"`);
	return Number(m[1]);
}

/** "90s", "2m", "1500ms", "1.5m" → ms. */
export function parseTime(raw: string): number | undefined {
	const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw);
	if (!m) return undefined;
	return Math.round(Number(m[1]) * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : 60_000));
}

export function parseFault(raw: string): PlannedFault {
	const at = raw.lastIndexOf("@");
	const kind = at > 0 ? raw.slice(0, at) : raw;
	if (!FAULT_KINDS.includes(kind as FaultKind)) throw new UsageError(`--fault: unknown fault "${kind}" (one of ${FAULT_KINDS.join(", ")}; e.g. --fault drop-all@60s)`);
	if (at < 0) throw new UsageError(`--fault ${raw}: say when, e.g. --fault ${kind}@60s`);
	const atMs = parseTime(raw.slice(at + 1));
	if (atMs === undefined) throw new UsageError(`--fault ${raw}: the time must be like 90s, 2m or 1500ms, not "${raw.slice(at + 1)}"`);
	return { kind: kind as FaultKind, atMs };
}

export function parseFleetArgs(argv: string[]): FleetOptions | "help" {
	const fleet: Partial<FleetOptions> = {};
	const device: DeviceOptions = { log: "human", target: "sim", mac: DEFAULT_MAC, overrides: [] };
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		const eq = arg.indexOf("=");
		const name = eq > 0 ? arg.slice(0, eq) : arg;
		if (name === "--help") return "help";
		const own = FLEET_FLAGS[name];
		if (own) {
			if (own.kind === "switch") {
				if (eq > 0) throw new UsageError(`${name} takes no value`);
				own.apply(fleet);
				continue;
			}
			const raw = eq > 0 ? arg.slice(eq + 1) : argv[++i];
			if (raw === undefined || raw === "" || (eq < 0 && raw.startsWith("--"))) throw new UsageError(`${name} needs a value`);
			if (own.kind === "count") {
				if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > own.max) throw new UsageError(`${name} must be a whole number from 1 to ${own.max}, not "${raw}"`);
				own.apply(fleet, Number(raw));
			}
			else own.apply(fleet, raw);
			continue;
		}
		if (NOT_FOR_A_FLEET[name]) throw new UsageError(`${name} is not a fleet option: ${NOT_FOR_A_FLEET[name]}`);
		const flag = FLAGS[name];
		if (!flag) throw new UsageError(`unknown option ${name} (see --help)`);
		const raw = eq > 0 ? arg.slice(eq + 1) : argv[++i];
		const value = parseValue(name, flag, raw);
		if (flag.apply) flag.apply(device, value);
		else device.overrides.push({ path: flag.path!, value });
	}
	if (fleet.devices === undefined) throw new UsageError("--devices N is required (how many devices to run)");
	if (fleet.broker === "mosquitto" && device.broker) throw new UsageError("--mosquitto and --broker exclude each other: --mosquitto starts a local broker, --broker names one");
	const authGiven = device.overrides.some((o) => o.path.join(".") === "auth.mode");
	const config = buildConfig(device, undefined);
	if (fleet.broker === "mosquitto" && authGiven && config.auth.mode === "jwt") {
		throw new UsageError("--auth jwt: Mosquitto does not verify JWTs; with --mosquitto use --auth password (the default: one user per device) or none");
	}
	const hasFaults = (fleet.faults ?? []).some((f) => f.kind === "restart-broker");
	if (hasFaults && device.broker) throw new UsageError("--fault restart-broker: the fleet can restart only a broker it started (the embedded one or --mosquitto), not --broker");
	return {
		devices: fleet.devices,
		ramp: fleet.ramp ?? 100,
		broker: fleet.broker ?? (device.broker ? "url" : "embedded"),
		jitter: fleet.jitter ?? 10,
		faults: (fleet.faults ?? []).sort((a, b) => a.atMs - b.atMs),
		summary: fleet.summary ?? "-",
		quiet: fleet.quiet ?? false,
		duration: device.duration,
		mac: device.mac,
		config,
		authGiven,
	};
}

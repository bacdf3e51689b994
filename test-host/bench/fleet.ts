/*
 * The fleet section of `npm run bench` (opt-in: it loads the machine for minutes):
 *
 *   BENCH_FLEET=1 npm run bench -- --no-codec --no-net       1,000, 5,000 and 10,000 devices
 *   BENCH_FLEET=1000,2000 npm run bench                       sizes of your choice, after the rest
 *   npx tsx test-host/bench/fleet.ts [sizes]                  this section alone
 *
 * For each size, one fleet process (the bundle `npm run fleet` runs) against one local Mosquitto
 * with a password per device: the devices boot at BENCH_FLEET_RAMP per second (default 1000, so
 * the connect time is the broker's and this process's, not the ramp's), are held BENCH_FLEET_HOLD
 * seconds (default 20) with telemetry every 30 s, then disconnect. Printed per size: devices held
 * at the end, time until the last first CONNACK, connect time p50/p99 (boot to CONNACK, WiFi join
 * 300 ms included), heap and RSS per device after the ramp, Mosquitto's RSS, unplanned
 * disconnects and CPU. Nothing is asserted: figures.
 */

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FleetSummary } from "../fleet/fleet";
import { FLEET_NODE_FLAGS, bundleFleet } from "../fleet/launch";

export const DEFAULT_SIZES = [1000, 5000, 10000];

export interface FleetBenchOptions {
	sizes: number[];
	ramp: number;
	holdS: number;
	log: (line: string) => void;
}

export interface FleetBenchRow {
	size: number;
	summary?: FleetSummary;
	error?: string;
}

/** "1" (or "true", "yes") for the default sizes, else a comma-separated list of sizes. */
export function fleetSizes(value: string | undefined): number[] {
	if (!value || /^(1|true|yes)$/i.test(value)) return DEFAULT_SIZES;
	const sizes = value.split(",").map((s) => Number(s.trim()));
	if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_FLEET must be 1 or sizes like 1000,5000, not "${value}"`);
	return sizes;
}

function runOne(bundle: string, size: number, o: FleetBenchOptions): Promise<FleetBenchRow> {
	const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "fleet-bench-")), "summary.json");
	const args = [...FLEET_NODE_FLAGS, bundle, "--devices", String(size), "--ramp", String(o.ramp), "--mosquitto", "--duration", String(o.holdS), "--quiet", "--summary", file];
	const limitMs = (size / o.ramp + o.holdS + 120) * 1000;
	return new Promise((resolve) => {
		const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
		let stderr = "";
		child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
		const timer = setTimeout(() => child.kill("SIGTERM"), limitMs);
		child.on("exit", (code) => {
			clearTimeout(timer);
			try {
				const summary = JSON.parse(fs.readFileSync(file, "utf8")) as FleetSummary;
				resolve({ size, summary });
			}
			catch {
				resolve({ size, error: `exit ${code}: ${stderr.trim().split("\n").slice(-3).join(" / ")}` });
			}
			fs.rmSync(path.dirname(file), { recursive: true, force: true });
		});
	});
}

const n = (x: number | undefined, digits = 0): string => (x === undefined ? "-" : x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits }));

/** The table of a fleet bench, Markdown. */
export function fleetText(rows: FleetBenchRow[], o: Pick<FleetBenchOptions, "ramp" | "holdS">): string {
	const lines = [
		`Fleet against one local Mosquitto (password per device), ramp ${o.ramp}/s, held ${o.holdS} s, telemetry every 30 s ± 10 %, QoS 1:`,
		"",
		"| devices | held at the end | last first CONNACK | connect p50 / p99 | heap per device | RSS per device | Mosquitto RSS | unplanned disconnects | CPU (fleet process) |",
		"|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
	];
	for (const r of rows) {
		const s = r.summary;
		if (!s) {
			lines.push(`| ${n(r.size)} | failed: ${r.error} | | | | | | | |`);
			continue;
		}
		const m = s.memory.afterRamp;
		lines.push(`| ${n(r.size)} | ${n(s.connected.now)} | ${n(s.connected.lastFirstConnectAtS, 1)} s | ${n(s.connected.connectTimeMs.p50)} / ${n(s.connected.connectTimeMs.p99)} ms | ${n(m?.heapPerDeviceKB, 1)} KB | ${n(m?.rssPerDeviceKB, 1)} KB | ${n((s.broker.rssBytes ?? 0) / 1048576, 1)} MB | ${n(s.disconnects.unplanned)} | ${n(s.cpu.userS + s.cpu.systemS, 1)} s (${n(s.cpu.percentOfOneCore)} % of a core) |`);
	}
	return lines.join("\n");
}

/** Runs the fleet section; returns the rows (printed as they come) and their table. */
export async function runFleetBench(options: Partial<FleetBenchOptions> & { sizes: number[] }): Promise<{ rows: FleetBenchRow[]; text: string }> {
	const o: FleetBenchOptions = {
		ramp: Number(process.env.BENCH_FLEET_RAMP) || 1000,
		holdS: Number(process.env.BENCH_FLEET_HOLD) || 20,
		log: (line) => console.log(`  ${line}`),
		...options,
	};
	const bundle = await bundleFleet();
	const rows: FleetBenchRow[] = [];
	console.log(`Fleet: ${o.sizes.join(", ")} devices against one local Mosquitto ...`);
	for (const size of o.sizes) {
		const row = await runOne(bundle, size, o);
		const s = row.summary;
		o.log(s ? `${size} devices: ${s.connected.now} held, last first CONNACK at ${s.connected.lastFirstConnectAtS} s, ${s.memory.afterRamp?.heapPerDeviceKB} KB heap / ${s.memory.afterRamp?.rssPerDeviceKB} KB RSS per device` : `${size} devices: ${row.error}`);
		rows.push(row);
	}
	const text = fleetText(rows, o);
	console.log(`\n${text}\n`);
	return { rows, text };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	runFleetBench({ sizes: fleetSizes(process.argv[2]) }).then(() => process.exit(0), (e: unknown) => {
		console.error(e instanceof Error ? e.message : String(e));
		process.exit(1);
	});
}

/*
 * `npm run fleet -- --devices N [options]`: N simulated sensor nodes in this process against one
 * broker, a status line every second, faults on demand, and a JSON summary at the end.
 * See test-host/fleet/options.ts for the flags and docs/fleet.md for what it measures.
 */

import fs from "node:fs";
import readline from "node:readline";
import { Fleet } from "./fleet";
import { commandLine } from "../cli";
import { HELP, parseFleetArgs, type FaultKind, type FleetOptions } from "./options";
import { StatusLine } from "./status";

/** After the ramp, wait this long for the last CONNACKs before measuring memory. */
const SETTLE_MS = 10_000;

async function main(): Promise<number> {
	const parsed = commandLine(parseFleetArgs, HELP);
	if ("exitCode" in parsed) return parsed.exitCode;
	const o = parsed.options;
	// The status goes to stderr when the summary goes to stdout, so stdout stays one JSON document.
	const statusOut = o.summary === "-" ? process.stderr : process.stdout;
	const tty = !!statusOut.isTTY;
	let status: StatusLine | undefined;
	const say = (line: string): void => {
		if (status) status.say(line);
		else statusOut.write(`${line}\n`);
	};
	let fleet: Fleet;
	try {
		fleet = await Fleet.create(o, { say: (line) => say(line) });
	}
	catch (e) {
		if (e instanceof RangeError) {
			process.stderr.write(`error: ${e.message}\n`);
			return 2;
		}
		throw e;
	}
	status = o.quiet ? undefined : new StatusLine(fleet, { tty, write: (text) => statusOut.write(text), columns: () => statusOut.columns });

	if (!(globalThis as { gc?: unknown }).gc) say("note: run with node --expose-gc (npm run fleet does) for exact memory figures");
	if (fleet.fileWarning) say(`⚠️  open files: ${fleet.fileWarning}`);
	say(`🚀 ${o.devices} devices at ${o.ramp}/s against ${fleet.brokerKind === "embedded" ? "the embedded broker (aedes)" : fleet.brokerKind === "mosquitto" ? "a local Mosquitto" : "the broker"} on ${fleet.brokerUrl} (auth ${fleet.authMode}, telemetry every ${o.config.telemetry.interval} s ± ${o.jitter} %)`);

	let finish!: () => void;
	const finished = new Promise<void>((resolve) => (finish = resolve));
	const inject = (kind: FaultKind) => {
		fleet.fault(kind).catch((e: Error) => say(`fault ${kind} failed: ${e.message}`));
	};
	const timers: ReturnType<typeof setTimeout>[] = o.faults.map((f) => setTimeout(() => inject(f.kind), f.atMs));
	const stopControl = control(tty && !!process.stdin.isTTY, {
		"drop-all": () => inject("drop-all"),
		"restart-broker": () => inject("restart-broker"),
		status: () => say(status?.line() ?? JSON.stringify(fleet.stats.states)),
		quit: finish,
	});
	process.once("SIGINT", finish);
	process.once("SIGTERM", finish);
	// Started by the launcher: stop when it is gone (killed), rather than run on unseen.
	const parent = Number(process.env.FLEET_PARENT);
	if (parent > 0) timers.push(setInterval(() => {
		try {
			process.kill(parent, 0);
		}
		catch {
			finish();
		}
	}, 1000));
	status?.start();

	// Ctrl-C or quit during the ramp stops at once (fleet.stop() ends the ramp).
	let stopped = false;
	void finished.then(() => (stopped = true));
	await Promise.race([fleet.start(), finished]);
	if (!stopped) say(`✅ all ${fleet.booted} devices booted after ${(fleet.elapsed() / 1000).toFixed(1)} s`);
	if (o.duration !== undefined) timers.push(setTimeout(finish, o.duration * 1000));
	// Memory once the ramp has settled: every device connected, or SETTLE_MS after the last boot.
	const settleStart = performance.now();
	while (!stopped && fleet.stats.everConnected < fleet.booted && performance.now() - settleStart < SETTLE_MS) await sleep(200);
	if (!stopped) {
		fleet.memory.afterRamp = fleet.measureMemory();
		say(`📏 memory after the ramp: ${fleet.memory.afterRamp.heapPerDeviceKB} KB heap, ${fleet.memory.afterRamp.rssPerDeviceKB} KB RSS per device (${fleet.stats.everConnected} connected)`);
	}

	await finished;
	for (const t of timers) clearTimeout(t); // intervals too
	fleet.memory.atEnd = fleet.measureMemory();
	status?.show();
	status?.stop();
	stopControl();
	statusOut.write("stopping: every device says goodbye (status offline, DISCONNECT)...\n");
	const summary = fleet.summary();
	await fleet.stop();
	const json = `${JSON.stringify(summary, null, 2)}\n`;
	if (o.summary === "-") process.stdout.write(json);
	else {
		fs.writeFileSync(o.summary, json);
		statusOut.write(`summary written to ${o.summary}\n`);
	}
	return 0;
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

type Commands = Record<"drop-all" | "restart-broker" | "status" | "quit", () => void>;

/** Keys on a terminal (d, r, s, q, Ctrl-C), or command lines on stdin. Returns a function that stops listening. */
function control(keys: boolean, commands: Commands): () => void {
	if (keys) {
		readline.emitKeypressEvents(process.stdin);
		process.stdin.setRawMode(true);
		const onKey = (_: string, key: { name?: string; ctrl?: boolean }) => {
			if (key.ctrl && key.name === "c") commands.quit();
			else if (key.name === "d") commands["drop-all"]();
			else if (key.name === "r") commands["restart-broker"]();
			else if (key.name === "s") commands.status();
			else if (key.name === "q") commands.quit();
		};
		process.stdin.on("keypress", onKey);
		process.stdin.resume();
		return () => {
			process.stdin.off("keypress", onKey);
			process.stdin.setRawMode(false);
			process.stdin.pause();
		};
	}
	const lines = readline.createInterface({ input: process.stdin, terminal: false });
	lines.on("line", (line) => {
		const command = line.trim() as keyof Commands;
		if (command in commands) commands[command]();
		else if (command) process.stderr.write(`unknown command "${command}" (drop-all, restart-broker, status, quit)\n`);
	});
	return () => lines.close();
}

main().then(
	(code) => process.exit(code),
	(e: unknown) => {
		process.stderr.write(`error: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
		process.exit(1);
	},
);

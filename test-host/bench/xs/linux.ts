/*
 * The XS section on Moddable's Linux runtime (when $MODDABLE is set): builds the benchmark app
 * (test-host/bench/xs-app, mcconfig -m -p x-cli-lin) into a temporary folder, starts a Mosquitto,
 * runs the app, and reads the app's CPU time (/proc/<pid>/task/<tid>/schedstat, nanoseconds) at
 * each phase marker it prints. The app alternates our client and Moddable's `mqtt` module, so both
 * meet the same machine. The machine's XS memory is the board's (platforms/memory/manifest.json):
 * the garbage collector's share is counted, as on the board.
 */

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { startMosquitto } from "../../brokers/mosquitto";
import { moddableSdk, toolPath } from "../../linux-target";
import { median } from "./run";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const APP = path.resolve(HERE, "../xs-app");

export interface LinuxPhase {
	key: string;
	label: string;
	/** CPU µs per message (or token), one figure per round. */
	cpu: number[];
	/** Wall µs per message, one per round. */
	wall: number[];
}

export interface LinuxFigures {
	sdk: string;
	messages: number;
	qos1Messages: number;
	runs: number;
	phases: LinuxPhase[];
}

const LABELS: Record<string, string> = {
	"ours-q0": "ours, QoS 0",
	"moddable-q0": "Moddable mqtt, QoS 0",
	"ours-q1": "ours, QoS 1, window 8",
	"moddable-q0-paced": "Moddable mqtt, QoS 0, 8 at a time at our QoS 1's pace",
	jwt: "ours, JWT minting (HMAC included)",
	idle: "runtime idle, CPU µs per ms",
	"ours-q1-net": "ours, QoS 1, window 8, idle polling removed",
	"moddable-q0-paced-net": "Moddable mqtt, QoS 0 at our QoS 1's pace, idle polling removed",
};

/** CPU nanoseconds of every thread of `pid` so far. */
function cpuNs(pid: number): number {
	let total = 0;
	for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
		const fields = fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(/\s+/);
		total += Number(fields[0]);
	}
	return total;
}

function sdkVersion(root: string): string {
	try {
		return fs.readFileSync(path.join(root, "tools/VERSION"), "utf8").trim();
	}
	catch {
		return "unknown version";
	}
}

export async function runLinuxBench(options: { messages: number; qos1Messages: number; runs: number; jwt: number; progress?: (line: string) => void }): Promise<LinuxFigures | undefined> {
	if (!process.env.MODDABLE || process.platform !== "linux") return undefined;
	const sdk = moddableSdk();
	const out = fs.mkdtempSync(path.join(os.tmpdir(), "xs-bench-"));
	try {
		options.progress?.("building test-host/bench/xs-app for x-cli-lin (mcconfig -m -p x-cli-lin) ...");
		const build = spawnSync("mcconfig", ["-m", "-p", "x-cli-lin", "-o", out], {
			cwd: APP,
			env: { ...process.env, MODDABLE: sdk.root, PATH: toolPath(sdk.bin) },
			encoding: "utf8",
			maxBuffer: 64 * 1024 * 1024,
		});
		const binary = path.join(out, "bin/lin/release", path.basename(APP));
		if (build.status !== 0 || !fs.existsSync(binary))
			throw new Error(`mcconfig failed for ${APP}:\n${`${build.stdout}${build.stderr}`.split("\n").slice(-30).join("\n")}`);
		const broker = await startMosquitto({ extraConfig: "log_type error\nlog_type warning\nmax_queued_messages 0" });
		try {
			return await runApp(binary, broker.port, options, sdk.root);
		}
		finally {
			await broker.stop();
		}
	}
	finally {
		fs.rmSync(out, { recursive: true, force: true });
	}
}

export async function runApp(binary: string, port: number, options: { messages: number; qos1Messages: number; runs: number; jwt: number; progress?: (line: string) => void }, sdkRoot: string): Promise<LinuxFigures> {
	// Line-buffered stdout, so each marker arrives when it is printed.
	const child = spawn("stdbuf", ["-oL", binary], {
		env: {
			...process.env,
			BENCH_PORT: String(port),
			BENCH_MESSAGES: String(options.messages),
			BENCH_QOS1_MESSAGES: String(options.qos1Messages),
			BENCH_ROUNDS: String(options.runs),
			BENCH_JWT: String(options.jwt),
		},
		stdio: ["ignore", "pipe", "pipe"],
	});
	let stderr = "";
	child.stderr.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
	const phases = new Map<string, LinuxPhase>();
	const begun = new Map<string, number>();
	const lines = readline.createInterface({ input: child.stdout });
	const limit = setTimeout(() => child.kill("SIGKILL"), 600_000);
	let done = false;
	let failure = "";
	for await (const line of lines) {
		const m = /^phase (\S+) (\d+) (begin|end)(?: (\d+) (\d+))?$/.exec(line.trim());
		if (m) {
			const [, key, round, what, count, ms] = m;
			const now = cpuNs(child.pid!);
			if (what === "begin") begun.set(`${key} ${round}`, now);
			else {
				const used = now - (begun.get(`${key} ${round}`) ?? now);
				const n = Number(count);
				const phase = phases.get(key) ?? { key, label: LABELS[key] ?? key, cpu: [], wall: [] };
				phase.cpu.push(used / 1000 / n);
				phase.wall.push((Number(ms) * 1000) / n);
				phases.set(key, phase);
				options.progress?.(`XS Linux run ${round}/${options.runs} ${phase.label.padEnd(40)} ${(used / 1000 / n).toFixed(2).padStart(7)} µs CPU/msg`);
			}
		}
		else if (line.startsWith("bench done")) done = true;
		else if (line.startsWith("bench failed")) failure = line;
	}
	clearTimeout(limit);
	await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())));
	if (!done) throw new Error(`the XS benchmark app did not finish (${failure || `exit ${child.exitCode}`}): ${stderr}`);
	// QoS 1 is paced by the Linux socket port's 20 ms polling: remove what the runtime costs while
	// idle over the same wall time (measured in the idle phase of the same round).
	const idle = phases.get("idle");
	for (const key of ["ours-q1", "moddable-q0-paced"]) {
		const paced = phases.get(key);
		if (!idle || !paced) continue;
		const net: LinuxPhase = { key: `${key}-net`, label: LABELS[`${key}-net`], cpu: [], wall: paced.wall };
		paced.cpu.forEach((cpu, i) => net.cpu.push(Math.max(0, cpu - (idle.cpu[i] / 1000) * paced.wall[i])));
		phases.set(net.key, net);
	}
	return { sdk: `Moddable SDK ${sdkVersion(sdkRoot)}`, messages: options.messages, qos1Messages: options.qos1Messages, runs: options.runs, phases: [...phases.values()] };
}

/* Standalone: `MODDABLE=... npx tsx test-host/bench/xs/linux.ts [messages] [runs]`. */
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const figures = await runLinuxBench({ messages: Number(process.argv[2] ?? 20000), qos1Messages: 400, runs: Number(process.argv[3] ?? 3), jwt: 2000, progress: (l) => console.log(`  ${l}`) });
	if (!figures) console.log("MODDABLE is not set");
	else for (const p of figures.phases) console.log(`${p.label.padEnd(40)} ${median(p.cpu).toFixed(2).padStart(7)} µs CPU  ${median(p.wall).toFixed(2).padStart(7)} µs wall`);
}

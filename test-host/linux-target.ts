/*
 * The firmware on Moddable's Linux console target (mcconfig -p x-cli-lin): the same sources and
 * module graph as the board's build, with the Linux board (platforms/linux/) in place of the
 * ESP32-S3's. Builds it with the Moddable SDK the user installed ($MODDABLE), runs it as a child
 * process with its build configuration in SENSOR_CONFIG, passes its serial-monitor lines on, and
 * plays the board's reset: exit code 75 (the firmware's restart) starts it again on the same
 * preferences.
 *
 * Used by `npm run device:linux` (test-host/cli.ts --target linux) and the device check.
 */

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** The firmware's restart (src/adapters/linux/process.ts). */
export const REBOOT_EXIT_CODE = 75;

export class SdkMissing extends Error {}

/** $MODDABLE and its Linux tools, or why they cannot be used. */
export function moddableSdk(env: NodeJS.ProcessEnv = process.env): { root: string; bin: string } {
	const root = env.MODDABLE;
	if (!root) throw new SdkMissing("MODDABLE is not set: install the Moddable SDK (see README, Flashing) and export MODDABLE");
	const bin = path.join(root, "build/bin/lin/release");
	if (!fs.existsSync(path.join(bin, "mcconfig"))) throw new SdkMissing(`MODDABLE=${root} has no Linux tools in build/bin/lin/release (build them as Moddable's Getting Started says)`);
	return { root, bin };
}

/** PATH for mcconfig: the SDK's tools and this repository's TypeScript (mcconfig runs tsc). */
export function toolPath(bin: string): string {
	return [bin, path.join(ROOT, "node_modules/.bin"), process.env.PATH ?? ""].join(path.delimiter);
}

export interface BuildResult {
	ok: boolean;
	binary: string;
	output: string;
}

/** mcconfig -m -i -p x-cli-lin: an instrumented build (XS memory figures, the stack's peak). */
export function buildLinuxTarget(outDir = path.join(ROOT, "build/linux")): BuildResult {
	const sdk = moddableSdk();
	fs.mkdirSync(outDir, { recursive: true });
	const run = spawnSync("mcconfig", ["-m", "-i", "-p", "x-cli-lin", "-o", outDir], {
		cwd: ROOT,
		env: { ...process.env, MODDABLE: sdk.root, PATH: toolPath(sdk.bin) },
		encoding: "utf8",
		maxBuffer: 64 * 1024 * 1024,
	});
	const output = `${run.stdout ?? ""}${run.stderr ?? ""}`;
	// mcconfig names the program after the folder that holds the manifest.
	const binary = path.join(outDir, "bin/lin/instrument", path.basename(ROOT));
	return { ok: run.status === 0 && fs.existsSync(binary), binary, output };
}

/** The manifests' config defaults for the Linux target (what mcconfig would put in mc/config). */
export function linuxConfigDefaults(): Record<string, unknown> {
	const read = (file: string) => (JSON.parse(fs.readFileSync(path.join(ROOT, file), "utf8")) as { config?: Record<string, unknown> }).config ?? {};
	return { ...read("manifest.json"), ...read("platforms/linux/manifest.json") };
}

export interface LinuxDeviceOptions {
	binary: string;
	/** mc/config for the firmware: flat keys and/or `device`, `linux`, `file` objects. */
	config: Record<string, unknown>;
	/** Each line the firmware prints. */
	onLine(line: string, stream: "stdout" | "stderr"): void;
	/** After each exit: the code (or the signal that ended it) and whether it is started again. */
	onExit?(code: number | null, rebooting: boolean, signal: NodeJS.Signals | null): void;
}

/** The Linux firmware as a board: started once, started again after each restart it asks for. */
export class LinuxDevice {
	readonly #o: LinuxDeviceOptions;
	#child: ChildProcess | undefined;
	#stopping = false;
	#stopped: Promise<number | null> | undefined;
	boots = 0;

	constructor(options: LinuxDeviceOptions) {
		this.#o = options;
	}

	start(): void {
		this.#stopped = new Promise((resolve) => this.#spawn(resolve));
	}

	/** SIGINT: the firmware says goodbye (status offline, DISCONNECT) and exits; resolves with its code. */
	async stop(timeoutMs = 10_000): Promise<number | null> {
		this.#stopping = true;
		const child = this.#child;
		if (child && child.exitCode === null) {
			child.kill("SIGINT");
			const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
			const code = await this.#stopped;
			clearTimeout(timer);
			return code ?? null;
		}
		return (await this.#stopped) ?? null;
	}

	/** Resolves when the firmware has exited without asking for a restart (or was stopped). */
	get exited(): Promise<number | null> {
		return this.#stopped ?? Promise.resolve(null);
	}

	#spawn(resolve: (code: number | null) => void): void {
		this.boots++;
		const child = spawn(this.#o.binary, [], {
			env: { ...process.env, SENSOR_CONFIG: JSON.stringify(this.#o.config) },
			stdio: ["ignore", "pipe", "pipe"],
		});
		this.#child = child;
		for (const stream of ["stdout", "stderr"] as const) {
			let pending = "";
			child[stream].setEncoding("utf8");
			child[stream].on("data", (chunk: string) => {
				pending += chunk;
				let newline: number;
				while ((newline = pending.indexOf("\n")) >= 0) {
					this.#o.onLine(pending.slice(0, newline), stream);
					pending = pending.slice(newline + 1);
				}
			});
			child[stream].on("end", () => {
				if (pending) this.#o.onLine(pending, stream);
				pending = "";
			});
		}
		child.on("close", (code, signal) => {
			const rebooting = code === REBOOT_EXIT_CODE && !this.#stopping;
			if (signal) this.#o.onLine(`# the firmware process was killed by ${signal}`, "stderr");
			this.#o.onExit?.(code, rebooting, signal);
			if (rebooting) this.#spawn(resolve);
			else resolve(code);
		});
	}
}

/**
 * A minimal SNTP server (RFC 4330 server mode, this machine's clock) on 127.0.0.1:123, for the
 * firmware's real SNTP client, which always asks port 123. Binding a port below 1024 needs root
 * (or CAP_NET_BIND_SERVICE): undefined when it cannot.
 */
export async function startLocalSntp(): Promise<{ close(): void } | undefined> {
	const socket = dgram.createSocket("udp4");
	const NTP_EPOCH_OFFSET = 2_208_988_800;
	socket.on("message", (request, peer) => {
		if (request.length < 48) return;
		const reply = Buffer.alloc(48);
		const now = Date.now();
		const seconds = Math.floor(now / 1000) + NTP_EPOCH_OFFSET;
		const fraction = Math.floor(((now % 1000) / 1000) * 2 ** 32);
		reply[0] = (0 << 6) | (4 << 3) | 4; // no leap warning, version 4, server
		reply[1] = 1; // stratum 1
		reply[2] = request[2];
		reply[3] = 0xec; // precision
		reply.write("LOCL", 12, "ascii");
		request.copy(reply, 24, 40, 48); // originate = the client's transmit time
		for (const offset of [16, 32, 40]) {
			reply.writeUInt32BE(seconds >>> 0, offset);
			reply.writeUInt32BE(fraction >>> 0, offset + 4);
		}
		socket.send(reply, peer.port, peer.address);
	});
	return new Promise((resolve) => {
		socket.once("error", () => {
			socket.close();
			resolve(undefined);
		});
		socket.bind(123, "127.0.0.1", () => resolve({ close: () => socket.close() }));
	});
}

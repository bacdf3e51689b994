/*
 * Drives the real XS engine from Node: the `xsnap-worker` binary that @agoric/xsnap's postinstall
 * builds, spoken to directly over its netstring pipes (its JS API needs SES lockdown; we don't).
 *
 * Protocol (xsnap-native/xsnap/sources/xsnap-worker.c, xsnap 0.15.0, XS 13.3.0):
 * - The worker reads commands on fd 3 and writes replies on fd 4, each a netstring `<len>:<bytes>,`
 *   (len in bytes). stdout carries `print(...)` output, stderr the worker's own diagnostics.
 * - `e<source>`: `eval(source)` (indirect, global: top-level `var` becomes a global property).
 *   Reply `!<text>` when it throws (text = String(exception), e.g. "TypeError: boom"), else
 *   `.<meter JSON>\x01<result bytes>`: the meter is
 *   `{"currentHeapCount":n,"compute":n,"allocate":n,"timestamps":[sec.usec,...]}`, the byte 0x01
 *   separates it from the result, and the result bytes are the contents of the completion value
 *   when it is an ArrayBuffer, or of its `result` property when that is an ArrayBuffer, else empty.
 * - `R` (isReady) replies `.` alone (no meter, no separator). `q` quits without a reply.
 * - The worker may send `?<bytes>` (script called `issueCommand`) and blocks until we answer
 *   `/<bytes>`; we answer with empty bytes.
 *
 * Globals in this worker, besides the ECMAScript ones (and XS's `Compartment`, `ModuleSource`,
 * `harden`, `trace`, `global`): `print`, `setImmediate` (no clearImmediate), `performance.now`,
 * `gc`, `issueCommand`, `currentMeterLimit`, `resetMeter`, `TextEncoder`, `TextDecoder`,
 * `Base64`. Absent: `setTimeout`/`setInterval`, `console`, `Intl`, `structuredClone`, `crypto`,
 * `queueMicrotask`, `btoa`.
 *
 * Jobs: after evaluating, the worker runs `fxRunLoop` before it replies. That loop drains the
 * promise job queue and runs due `setImmediate` callbacks, repeating until neither is left. So an
 * async function that only awaits promises (and setImmediate) has finished when `evaluate`
 * resolves. Because the reply's `result` property is read *after* that loop, evaluateJson can
 * return a box whose `result` a promise reaction fills in: awaiting a promise works within one
 * command. A promise that never settles (waiting for I/O that doesn't exist here) leaves the box
 * empty, and evaluateJson rejects saying so. An unhandled rejection does not make the reply `!`:
 * XS prints "Unhandled exception <error>" on stderr, replies `.`, and the worker keeps running,
 * but it will exit with status 15 at quit; evaluateJson always handles the rejections it creates.
 */

import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

const CLOSE_GRACE_MS = 2000;
const KEPT_OUTPUT_CHARS = 16 * 1024;
const METER_SEPARATOR = 0x01;

/** Directory names the xsnap build uses per host OS. */
const PLATFORM_DIRS: Partial<Record<NodeJS.Platform, string>> = { linux: "lin", darwin: "mac" };

/** Where @agoric/xsnap is installed, or undefined when it is not. */
function xsnapPackageDir(): string | undefined {
	try {
		const require = createRequire(import.meta.url);
		return path.dirname(require.resolve("@agoric/xsnap/package.json"));
	}
	catch {
		const root = fileURLToPath(new URL("../../", import.meta.url));
		return path.join(root, "node_modules", "@agoric", "xsnap");
	}
}

function isExecutable(file: string): boolean {
	try {
		accessSync(file, constants.X_OK);
		return true;
	}
	catch {
		return false;
	}
}

/** The release xsnap-worker binary, or undefined when it was not built. */
export function xsnapWorkerPath(): string | undefined {
	const platformDir = PLATFORM_DIRS[process.platform];
	const packageDir = xsnapPackageDir();
	if (!platformDir || !packageDir) return undefined;
	const binary = path.join(packageDir, "xsnap-native", "xsnap", "build", "bin", platformDir, "release", "xsnap-worker");
	return isExecutable(binary) ? binary : undefined;
}

/** Runs `xsnap-worker -v`; resolves to its version line, or undefined when it cannot run. */
function probeVersion(binary: string): Promise<string | undefined> {
	return new Promise((resolve) => {
		execFile(binary, ["-v"], { timeout: 10_000 }, (error, stdout) => {
			resolve(error ? undefined : stdout.trim());
		});
	});
}

function banner(text: string): string {
	const rule = "=".repeat(78);
	return `\n${rule}\n${text}\n${rule}\n`;
}

/** What requireXs may log to, e.g. ava's `t`. */
export interface XsLog {
	log(...values: unknown[]): void;
}

/**
 * Checks that the XS worker is built and runs. Missing under CI (`CI=true`): throws, because those
 * tests must run there. Missing elsewhere: warns loudly and resolves false, so tests can skip.
 */
export async function requireXs(t?: XsLog): Promise<boolean> {
	const binary = xsnapWorkerPath();
	const version = binary ? await probeVersion(binary) : undefined;
	if (version) return true;
	const problem = binary ? `${binary} does not run (\`xsnap-worker -v\` failed)` : "the xsnap-worker binary is not built";
	const message = `XS ENGINE TESTS CANNOT RUN: ${problem}.\n` +
		"`npm ci` must build @agoric/xsnap: its postinstall compiles the XS worker, so install scripts must be\n" +
		"allowed (no --ignore-scripts) and a C toolchain (cc, make) must be present.";
	if (process.env.CI === "true") throw new Error(message);
	console.warn(banner(`${message}\nSkipping the XS engine tests.`));
	t?.log(message);
	return false;
}

/** Meter info the worker prefixes to a `.` reply. */
export interface XsMeter {
	currentHeapCount: number;
	compute: number;
	allocate: number;
	timestamps: number[];
}

/** An exception thrown inside XS; `message` is the XS text, e.g. "TypeError: boom". */
export class XsError extends Error {
	override name = "XsError";
}

/** Splits a byte stream into netstring payloads. */
class NetstringReader {
	#buffered: Buffer = Buffer.alloc(0);

	/** Appends `chunk`; returns the payloads completed so far. Throws on a malformed stream. */
	push(chunk: Buffer): Buffer[] {
		this.#buffered = this.#buffered.length ? Buffer.concat([this.#buffered, chunk]) : chunk;
		const frames: Buffer[] = [];
		for (let frame = this.#next(); frame; frame = this.#next()) frames.push(frame);
		return frames;
	}

	#next(): Buffer | undefined {
		const colon = this.#buffered.indexOf(0x3a);
		const header = this.#buffered.subarray(0, colon < 0 ? this.#buffered.length : colon).toString("latin1");
		if (!/^\d{0,20}$/.test(header) || colon === 0) {
			throw new Error(`xsnap-worker sent a malformed netstring header: ${JSON.stringify(header.slice(0, 40))}`);
		}
		if (colon < 0) return undefined;
		const end = colon + 1 + Number(header);
		if (this.#buffered.length <= end) return undefined;
		if (this.#buffered[end] !== 0x2c) throw new Error("xsnap-worker sent a netstring without its ',' terminator");
		const payload = this.#buffered.subarray(colon + 1, end);
		this.#buffered = this.#buffered.subarray(end + 1);
		return payload;
	}
}

function netstring(payload: Uint8Array): Buffer {
	return Buffer.concat([Buffer.from(`${payload.byteLength}:`, "latin1"), payload, Buffer.from(",", "latin1")]);
}

interface Pending {
	resolve(reply: Buffer): void;
	reject(error: Error): void;
}

/** Keeps the tail of a text stream. */
function keepTail(kept: string, chunk: Buffer): string {
	const text = kept + chunk.toString("utf8");
	return text.length > KEPT_OUTPUT_CHARS ? text.slice(-KEPT_OUTPUT_CHARS) : text;
}

/** Source that evaluates `source` in XS and returns its value as a JSON envelope in an ArrayBuffer. */
function jsonWrapper(source: string): string {
	return `(() => {
	const encode = (envelope) => {
		const bytes = new TextEncoder().encode(JSON.stringify(envelope));
		return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
	};
	const settle = (box, envelope) => {
		try { box.result = encode(envelope); }
		catch (error) { box.result = encode({ error: "cannot JSON.stringify the value: " + String(error) }); }
	};
	const value = (0, eval)(${JSON.stringify(source)});
	if (value === null || (typeof value !== "object" && typeof value !== "function") || typeof value.then !== "function") {
		return { result: encode({ value }) };
	}
	const box = { result: undefined };
	value.then((resolved) => settle(box, { value: resolved }), (error) => settle(box, { error: String(error) }));
	return box;
})()`;
}

interface JsonEnvelope {
	value?: unknown;
	error?: string;
}

export interface XsWorkerOptions {
	/** The xsnap-worker binary; defaults to xsnapWorkerPath(). */
	binary?: string;
}

/** One XS machine in an xsnap-worker process. Commands run one at a time, in call order. */
export class XsWorker {
	#child: ChildProcess;
	#toWorker: Writable;
	#reader = new NetstringReader();
	#pending: Pending[] = [];
	#closed: Promise<void>;
	#exit: string | undefined;
	#stdout = "";
	#stderr = "";
	#lastMeter: XsMeter | undefined;

	private constructor(child: ChildProcess) {
		this.#child = child;
		const [, stdout, stderr, toWorker, fromWorker] = child.stdio as [unknown, Readable, Readable, Writable, Readable];
		this.#toWorker = toWorker;
		toWorker.on("error", () => {}); // EPIPE after a crash: reported by the close handler instead
		stdout.on("data", (chunk: Buffer) => { this.#stdout = keepTail(this.#stdout, chunk); });
		stderr.on("data", (chunk: Buffer) => { this.#stderr = keepTail(this.#stderr, chunk); });
		fromWorker.on("data", (chunk: Buffer) => this.#onData(chunk));
		this.#closed = new Promise((resolve) => {
			child.on("close", (code, signal) => {
				this.#exit = `exited with code ${code}, signal ${signal}`;
				this.#failAll(this.#deathError());
				resolve();
			});
		});
	}

	/** Spawns a worker and waits until it answers isReady. */
	static async start(options: XsWorkerOptions = {}): Promise<XsWorker> {
		const binary = options.binary ?? xsnapWorkerPath();
		if (!binary) throw new Error("xsnap-worker is not built; see requireXs()");
		const child = spawn(binary, [], { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
		await new Promise<void>((resolve, reject) => {
			child.once("spawn", resolve);
			child.once("error", reject);
		});
		const worker = new XsWorker(child);
		const ready = await worker.#command("R");
		if (ready.toString("latin1") !== ".") throw new Error(`xsnap-worker answered isReady with ${JSON.stringify(ready.toString("latin1"))}`);
		return worker;
	}

	/** The worker's process id. */
	get pid(): number | undefined {
		return this.#child.pid;
	}

	/** The tail of what the worker wrote on stdout (`print` output). */
	get stdout(): string {
		return this.#stdout;
	}

	/** The tail of what the worker wrote on stderr (its diagnostics, unhandled rejections). */
	get stderr(): string {
		return this.#stderr;
	}

	/** Meter info of the last successful evaluate. */
	get lastMeter(): XsMeter | undefined {
		return this.#lastMeter;
	}

	/**
	 * Evaluates `source` as a global eval (command `e`). Resolves to the bytes of the completion
	 * value when it is an ArrayBuffer (or has an ArrayBuffer `result`), else to empty bytes.
	 * Rejects with an XsError carrying the XS exception text when the evaluation throws.
	 */
	async evaluate(source: string): Promise<Uint8Array> {
		const reply = await this.#command("e", source);
		if (reply[0] === 0x21) throw new XsError(reply.subarray(1).toString("utf8"));
		if (reply[0] !== 0x2e) throw new Error(`xsnap-worker sent an unexpected reply: ${JSON.stringify(reply.subarray(0, 40).toString("latin1"))}`);
		return this.#okayResult(reply);
	}

	/**
	 * Evaluates `source` (an expression or statements; its completion value counts) and returns the
	 * value, JSON-serialized inside XS. A promise is awaited within the same command (see the note on
	 * jobs at the top of this file); its rejection rejects with an XsError.
	 */
	async evaluateJson<T = unknown>(source: string): Promise<T> {
		const bytes = await this.evaluate(jsonWrapper(source));
		if (bytes.byteLength === 0) {
			throw new XsError("the promise did not settle: XS ran its promise jobs and immediates until none were left");
		}
		const envelope = JSON.parse(new TextDecoder().decode(bytes)) as JsonEnvelope;
		if (envelope.error !== undefined) throw new XsError(envelope.error);
		return envelope.value as T;
	}

	/** Quits the worker (`q`), waits for it to exit, and kills it if it does not. Idempotent. */
	async close(): Promise<void> {
		if (this.#exit === undefined && this.#toWorker.writable) {
			this.#toWorker.write(netstring(Buffer.from("q", "latin1")));
			this.#toWorker.end();
		}
		const timer = setTimeout(() => this.#child.kill("SIGKILL"), CLOSE_GRACE_MS);
		await this.#closed;
		clearTimeout(timer);
	}

	#okayResult(reply: Buffer): Uint8Array {
		const separator = reply.indexOf(METER_SEPARATOR, 1);
		if (separator < 0) return new Uint8Array(0);
		this.#lastMeter = JSON.parse(reply.subarray(1, separator).toString("utf8")) as XsMeter;
		return new Uint8Array(reply.subarray(separator + 1));
	}

	#command(letter: string, body = ""): Promise<Buffer> {
		if (this.#exit !== undefined) return Promise.reject(this.#deathError());
		return new Promise((resolve, reject) => {
			this.#pending.push({ resolve, reject });
			this.#toWorker.write(netstring(Buffer.from(letter + body, "utf8")));
		});
	}

	#onData(chunk: Buffer): void {
		let frames: Buffer[];
		try {
			frames = this.#reader.push(chunk);
		}
		catch (error) {
			this.#failAll(error as Error);
			this.#child.kill("SIGKILL");
			return;
		}
		for (const frame of frames) this.#onFrame(frame);
	}

	#onFrame(frame: Buffer): void {
		if (frame[0] === 0x3f) {
			this.#toWorker.write(netstring(Buffer.from("/", "latin1"))); // issueCommand: answer with nothing
			return;
		}
		const pending = this.#pending.shift();
		if (pending) pending.resolve(frame);
	}

	#failAll(error: Error): void {
		for (const pending of this.#pending.splice(0)) pending.reject(error);
	}

	#deathError(): Error {
		const stderr = this.#stderr.trim();
		return new Error(`xsnap-worker ${this.#exit ?? "is gone"}${stderr ? `; its stderr:\n${stderr}` : ""}`);
	}
}

/*
 * The XS section of `npm run bench`: our client and Moddable's `mqtt` module in the real XS engine
 * (xsnap), interleaved in one worker, each publishing to a fake socket (see ./shims.ts), so what is
 * measured is the XS work per message: client, codec, socket adapter, the socket's write() call.
 * Moddable's module is read from $MODDABLE/modules/network/mqtt/mqtt.js (never copied into the
 * repository); without the SDK only our figures are printed.
 *
 * Figures per case: median µs per message over the rounds, and XS meter units per message (the
 * worker's count of executed XS operations: deterministic, so it does not move with the load of
 * the machine).
 */

import { build } from "esbuild";
import type { Plugin } from "esbuild";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { XsWorker, xsnapWorkerPath } from "../../xs/xsnap";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const SHIMS = path.join(HERE, "shims.ts");
const SHIMMED: Record<string, string> = {
	socket: `import { Socket, Listener } from ${JSON.stringify(SHIMS)}; export { Socket, Listener }; export default Socket;`,
	net: `import { Net } from ${JSON.stringify(SHIMS)}; export default Net;`,
	timer: `import { Timer } from ${JSON.stringify(SHIMS)}; export default Timer;`,
	time: `import { Time } from ${JSON.stringify(SHIMS)}; export default Time;`,
	websocket: `import { WSClient } from ${JSON.stringify(SHIMS)}; export { WSClient as Client };`,
};

export function moddableMqttPath(): string | undefined {
	const sdk = process.env.MODDABLE;
	if (!sdk) return undefined;
	const file = path.join(sdk, "modules/network/mqtt/mqtt.js");
	return existsSync(file) ? file : undefined;
}

function shims(moddableMqtt: string | undefined): Plugin {
	return {
		name: "moddable-shims",
		setup(b) {
			b.onResolve({ filter: /^(socket|net|timer|time|websocket)$/ }, (args) => ({ path: args.path, namespace: "shim" }));
			b.onLoad({ filter: /.*/, namespace: "shim" }, (args) => ({ contents: SHIMMED[args.path], loader: "ts", resolveDir: HERE }));
			b.onResolve({ filter: /^moddable-mqtt$/ }, () => moddableMqtt ? { path: moddableMqtt } : { path: "none", namespace: "no-sdk" });
			b.onLoad({ filter: /.*/, namespace: "no-sdk" }, () => ({ contents: "export default undefined;", loader: "js" }));
		},
	};
}

export async function bundle(moddableMqtt: string | undefined): Promise<string> {
	const result = await build({
		entryPoints: [path.join(HERE, "entry.ts")],
		absWorkingDir: ROOT,
		tsconfig: path.join(ROOT, "tsconfig.json"),
		bundle: true,
		format: "iife",
		globalName: "__xsb",
		footer: { js: "globalThis.__xsb = __xsb;" },
		target: "es2022",
		platform: "neutral",
		plugins: [shims(moddableMqtt)],
		write: false,
		logLevel: "silent",
	});
	return result.outputFiles[0].text;
}

export const POLYFILL = `
if (!ArrayBuffer.fromString) {
	// Called on ArrayBuffer, as XS requires of the native one.
	const encoder = new TextEncoder();
	Object.defineProperty(ArrayBuffer, "fromString", { value: (s) => encoder.encode(String(s)).buffer, configurable: true, writable: true });
}
if (!String.fromArrayBuffer) {
	const decoder = new TextDecoder();
	Object.defineProperty(String, "fromArrayBuffer", { value: (b) => decoder.decode(b), configurable: true, writable: true });
}
0`;

export interface XsCase {
	key: string;
	label: string;
	/** Source evaluated in the worker; returns a Figure. */
	source: string;
	/** Per-message figures of each round. */
	us: number[];
	meter: number[];
}

export interface XsFigures {
	engine: string;
	messages: number;
	runs: number;
	moddable: string | undefined;
	cases: XsCase[];
}

const TOPIC = "smarthome/home1/sensor_a1b2c3d4e5f6/telemetry";

export function median(values: number[]): number {
	const s = [...values].sort((a, b) => a - b);
	const m = s.length >> 1;
	return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs the XS cases interleaved, `runs` rounds of `messages` messages. Undefined without xsnap. */
export async function runXsBench(options: { messages: number; runs: number; progress?: (line: string) => void }): Promise<XsFigures | undefined> {
	if (!xsnapWorkerPath()) return undefined;
	const moddableMqtt = moddableMqttPath();
	const code = await bundle(moddableMqtt);
	const worker = await XsWorker.start();
	try {
		// xsnap is built with CESU-8 strings and lacks ArrayBuffer.fromString / String.fromArrayBuffer,
		// which Moddable's runtimes have (native C). Both clients get the same stand-ins over xsnap's
		// native TextEncoder / TextDecoder.
		await worker.evaluate(POLYFILL);
		await worker.evaluate(code);
		const n = options.messages;
		await worker.evaluate(`var B = __xsb; var T = ${JSON.stringify(TOPIC)}; var P = B.payloadBytes(256); var PA = P.slice().buffer;
			var PS = String.fromCharCode.apply(null, Array.from(P));
			var O0 = B.oursOpen(8); var O1 = B.oursOpen(8); var M0 = B.haveModdable ? B.moddableOpen() : undefined; 0`);
		const cases: XsCase[] = [
			{ key: "ours-q0", label: "ours, QoS 0", source: `B.oursQos0(O0, ${n}, T, P)`, us: [], meter: [] },
			{ key: "ours-q0-string", label: "ours, QoS 0, string payload", source: `B.oursQos0(O0, ${n}, T, PS)`, us: [], meter: [] },
			{ key: "ours-q1", label: "ours, QoS 1, window 8 (PUBACKs decoded)", source: `B.oursQos1(O1, ${n}, T, P, 8)`, us: [], meter: [] },
			{ key: "jwt", label: "ours, JWT minting without the HMAC", source: `B.jwtMint(${Math.max(1, n >> 2)}, B.nullHmac)`, us: [], meter: [] },
		];
		if (moddableMqtt) {
			cases.splice(1, 0, { key: "moddable-q0", label: "Moddable mqtt, QoS 0", source: `B.moddableQos0(M0, ${n}, T, PA)`, us: [], meter: [] });
			cases.splice(3, 0, { key: "moddable-q0-string", label: "Moddable mqtt, QoS 0, string payload", source: `B.moddableQos0(M0, ${n}, T, PS)`, us: [], meter: [] });
		}
		// A warm-up round, not kept.
		for (const c of cases) await worker.evaluateJson(c.source.replace(String(n), String(Math.min(n, 2000))));
		for (let round = 1; round <= options.runs; round++) {
			for (const c of cases) {
				const figure = await worker.evaluateJson<{ us: number }>(c.source);
				const ops = c.key === "jwt" ? Math.max(1, n >> 2) : n;
				c.us.push(figure.us);
				c.meter.push((worker.lastMeter?.compute ?? 0) / ops);
				options.progress?.(`XS run ${round}/${options.runs} ${c.label.padEnd(44)} ${figure.us.toFixed(2).padStart(7)} µs/msg`);
			}
		}
		const version = await worker.evaluateJson<string>(`String(globalThis.XS_VERSION ?? "")`).catch(() => "");
		return { engine: `xsnap-worker${version ? ` ${version}` : ""} (@agoric/xsnap)`, messages: n, runs: options.runs, moddable: moddableMqtt, cases };
	}
	finally {
		await worker.close();
	}
}

/* Standalone: `npx tsx test-host/bench/xs/run.ts [messages] [runs]`. */
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const messages = Number(process.argv[2] ?? 20000);
	const runs = Number(process.argv[3] ?? 3);
	const figures = await runXsBench({ messages, runs, progress: (l) => console.log(`  ${l}`) });
	if (!figures) console.log("xsnap-worker is not built");
	else for (const c of figures.cases) console.log(`${c.label.padEnd(44)} ${median(c.us).toFixed(2).padStart(7)} µs  ${Math.round(median(c.meter)).toString().padStart(6)} meter units`);
}

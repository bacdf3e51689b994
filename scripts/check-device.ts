/*
 * `npm run check:device`: what only Moddable's own toolchain can tell, with the SDK the user
 * installed ($MODDABLE with its Linux tools built; $IDF_PATH for the ESP32 makefile).
 *
 * 1. esp32s3: the README's device build (mcconfig -d -p esp32/esp32s3), run through tsc, xsc, xsl
 *    (with every preload) and mcrez, stopping where ESP-IDF itself is needed (idf.py). Fails on any
 *    error and on any warning that is the project's (warnings from the SDK's own sources are listed).
 * 2. imports: every import of every module in that build resolves to a module of the build.
 * 3. linux: the same sources built for Moddable's Linux target (mcconfig -m -i -p x-cli-lin), run
 *    against a real Mosquitto inside a smaller XS machine than the board's (the budget: the
 *    manifest's creation values divided by 1.3, so passing proves 30 % headroom): boot → online →
 *    telemetry → a command answered → a broker restart survived with the readings queued meanwhile
 *    delivered → a clean stop. Fails on any error the firmware traces or an XS abort; reports the
 *    peak slots, chunks and stack and fails above the budget.
 *
 * `-- --only esp32` runs steps 1 and 2, `-- --only linux` step 3. `-- --soak SECONDS` lengthens
 * step 3 before the stop: a command every 10 s, a remote configuration every 30 s and a broker
 * restart every 60 s, every reading still delivered (how docs/memory.md measured the budget).
 * One line per step. Exit status: 0 passed, 1 failed, 3 the environment is incomplete.
 */

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { startMosquitto, type Mosquitto } from "../test-host/brokers/mosquitto";
import { LinuxDevice, ROOT, SdkMissing, buildLinuxTarget, moddableSdk, startLocalSntp, toolPath } from "../test-host/linux-target";

const EXIT_FAILED = 1;
const EXIT_ENVIRONMENT = 3;
/** The board's XS machine must fit the scenario's peak this many times over. */
const HEADROOM = 1.3;

class CheckFailed extends Error {}

function say(step: string, text: string): void {
	process.stdout.write(`check:device: ${step.padEnd(8)} ${text}\n`);
}

function failed(step: string, text: string, detail?: string): never {
	if (detail) process.stdout.write(detail.replace(/^/gm, "    ") + "\n");
	throw new CheckFailed(`${step}: ${text}`);
}

/* ----------------------------------------------------------------------------------------- */
/* 1. The esp32s3 build up to ESP-IDF                                                        */

interface EspBuild {
	/** mcconfig's -o folder, removed after the check. */
	out: string;
	/** The build's tmp folder (makefile, modules, manifest_flat.json). */
	dir: string;
	output: string;
}

/** A warning that comes from the SDK's own sources, not from this project. */
function sdkWarning(line: string, moddable: string): boolean {
	if (line.includes(moddable)) return !line.includes(ROOT);
	// xsl's preload warnings name the module: the SDK's TLS modules keep mutable caches.
	return /^### warning: (ssl\/[\w/]+|securesocket|x509):/.test(line);
}

function buildEsp32(moddable: string, bin: string): EspBuild {
	const idf = process.env.IDF_PATH;
	if (!idf || !fs.existsSync(path.join(idf, "components"))) throw new SdkMissing("IDF_PATH is not set to ESP-IDF (v6.0 for Moddable 8.2): the ESP32 makefile needs it");
	const out = fs.mkdtempSync(path.join(os.tmpdir(), "check-device-esp32-"));
	const env = { ...process.env, MODDABLE: moddable, IDF_PATH: idf, PATH: toolPath(bin) };
	const configure = spawnSync("mcconfig", ["-d", "-p", "esp32/esp32s3", "-o", out, "ssid=check", "password=check"], { cwd: ROOT, env, encoding: "utf8" });
	let output = `${configure.stdout}${configure.stderr}`;
	if (configure.status !== 0) failed("esp32s3", "mcconfig could not configure the build", output);
	// The folder is named after the project's folder.
	const debug = path.join(out, "tmp/esp32/esp32s3/debug");
	const makefile = fs.existsSync(debug) ? fs.readdirSync(debug).map((name) => path.join(debug, name, "makefile")).find((f) => fs.existsSync(f)) : undefined;
	if (!makefile) failed("esp32s3", `mcconfig wrote no makefile under ${debug}`, output);
	const tmp = path.dirname(makefile);
	// The makefile's first step would configure ESP-IDF (idf.py reconfigure) to write sdkconfig.h;
	// everything up to the XS archive and the resources only depends on that file existing.
	const sdkconfig = path.join(out, "sdkconfig-stand-in.h");
	fs.writeFileSync(sdkconfig, "/* stands in for ESP-IDF's generated sdkconfig.h: nothing compiled here includes it */\n");
	const make = spawnSync("make", ["-f", makefile, `SDKCONFIG_H=${sdkconfig}`, path.join(tmp, "mc.xs.c"), path.join(tmp, "mc.resources.c")], {
		cwd: ROOT, env, encoding: "utf8", maxBuffer: 64 * 1024 * 1024,
	});
	output += `${make.stdout}${make.stderr}`;
	if (make.status !== 0) failed("esp32s3", "tsc/xsc/xsl/mcrez failed", output.split("\n").filter((l) => !/^# (xsc|tsc|xsid|copy) /.test(l)).slice(-40).join("\n"));
	return { out, dir: tmp, output };
}

function reportEsp32(build: EspBuild, moddable: string): void {
	const lines = build.output.split("\n");
	const count = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).length;
	const warnings = lines.filter((l) => /warning/i.test(l));
	const ours = warnings.filter((l) => !sdkWarning(l, moddable));
	const errors = lines.filter((l) => /(^|\s)error[:\s]|### Error/i.test(l) && !/-Werror/.test(l));
	if (errors.length) failed("esp32s3", `${errors.length} error(s)`, errors.join("\n"));
	if (ours.length) failed("esp32s3", `${ours.length} warning(s) from this project`, ours.join("\n"));
	const instances = lines.find((l) => l.startsWith("### ") && l.includes("instances"))?.replace(/^### /, "") ?? "";
	say("esp32s3", `tsc ${count("# tsc ")} files, xsc ${count("# xsc ")} modules, xsl preloaded (${instances}), mcrez ${fs.existsSync(path.join(build.dir, "mc.resources.c")) ? "ok" : "missing"}; stopped before idf.py as intended`);
	for (const w of warnings) say("esp32s3", `SDK warning (not ours): ${w.trim()}`);
}

/* ----------------------------------------------------------------------------------------- */
/* 2. Imports                                                                                 */

function stripComments(code: string): string {
	return code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
}

function importsOf(code: string): string[] {
	const out: string[] = [];
	const statement = /(?:^|[;}\s])(?:import|export)\s+(?:[\w$*\s{},]*?\s+from\s+)?["']([^"']+)["']/g;
	const dynamic = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
	const text = stripComments(code);
	for (const re of [statement, dynamic]) for (let m = re.exec(text); m; m = re.exec(text)) out.push(m[1]);
	return out;
}

/**
 * Every module of the esp32s3 build and the JavaScript xsc compiles for it, as the generated
 * makefile lists them ($(MODULES_DIR)/<specifier>.xsb: <source>; "embedded:" is stored as
 * "~.embedded/"; TypeScript sources appear as tsc's output).
 */
function checkImports(build: EspBuild): void {
	const makefile = fs.readFileSync(path.join(build.dir, "makefile"), "utf8");
	const sources = new Map<string, string>();
	for (const m of makefile.matchAll(/^\$\(MODULES_DIR\)\/(.+)\.xsb: (\S+)/gm)) {
		const specifier = m[1].replace(/^~\.([^/]+)\//, "$1:");
		sources.set(specifier, m[2].replace("$(TMP_DIR)", build.dir).replace("$(MODULES_DIR)", path.join(build.dir, "modules")));
	}
	const problems: string[] = [];
	for (const [specifier, source] of sources) {
		if (!fs.existsSync(source)) {
			problems.push(`${specifier}: its source ${source} is missing`);
			continue;
		}
		if (source.endsWith(".json")) continue;
		for (const imported of importsOf(fs.readFileSync(source, "utf8"))) {
			const target = imported.startsWith(".") ? path.posix.normalize(path.posix.join(path.posix.dirname(specifier), imported)) : imported;
			if (!sources.has(target)) problems.push(`${specifier}: imports "${imported}" (${target}), which is not in the build`);
		}
	}
	if (problems.length) failed("imports", `${problems.length} import(s) do not resolve`, problems.join("\n"));
	if (sources.size < 50) failed("imports", `only ${sources.size} modules found in the makefile: the build layout is not what this check expects`);
	say("imports", `${sources.size} modules of the esp32s3 build: every import resolves to a module of the build`);
}

/* ----------------------------------------------------------------------------------------- */
/* 3. The Linux XS scenario                                                                   */

interface Creation {
	chunk: { initial: number };
	heap: { initial: number };
	stack: number;
}

function budget(): { creation: Creation; slots: number; chunks: number; stack: number } {
	const creation = (JSON.parse(fs.readFileSync(path.join(ROOT, "platforms/memory/manifest.json"), "utf8")) as { creation: Creation }).creation;
	return {
		creation,
		slots: Math.floor(creation.heap.initial / HEADROOM),
		chunks: Math.floor(creation.chunk.initial / HEADROOM),
		stack: Math.floor(creation.stack / HEADROOM),
	};
}

/** Waits for `test` to hold, polling; fails the step with `what` after `ms`, or at once if `alive` throws. */
async function until(step: string, what: string, ms: number, test: () => boolean, log: () => string, alive: () => unknown = () => true): Promise<void> {
	const end = Date.now() + ms;
	while ((alive(), !test())) {
		if (Date.now() > end) failed(step, `timed out waiting for ${what}`, log());
		await new Promise((resolve) => setTimeout(resolve, 100));
	}
}

async function runLinux(soakSeconds: number): Promise<void> {
	const started = Date.now();
	const build = buildLinuxTarget(path.join(ROOT, "build/check-device"));
	const warnings = build.output.split("\n").filter((l) => !l.startsWith("# ") && /warning|error/i.test(l) && !l.includes(process.env.MODDABLE ?? "\0"));
	if (!build.ok) failed("linux", "mcconfig -m -i -p x-cli-lin failed", build.output.split("\n").slice(-40).join("\n"));
	if (warnings.length) failed("linux", `${warnings.length} warning(s) from this project in the Linux build`, warnings.join("\n"));
	say("linux", `built ${path.relative(ROOT, build.binary)} in ${((Date.now() - started) / 1000).toFixed(0)} s (mcconfig -m -i -p x-cli-lin: the same sources and preloads, the Linux board)`);

	const limits = budget();
	const password = "check-device-secret";
	const clientId = "sensor_C4EC00";
	let broker: Mosquitto | undefined;
	let backend: mqtt.MqttClient | undefined;
	let device: LinuxDevice | undefined;
	const sntp = await startLocalSntp();
	const lines: string[] = [];
	const log = () => lines.slice(-60).join("\n");
	try {
		broker = await startMosquitto({ users: { [clientId]: password, backend: "backend-secret" } });
		const base = `smarthome/check/${clientId}`;
		backend = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { clientId: "check-backend", username: "backend", password: "backend-secret", reconnectPeriod: 1000, protocolVersion: 4 });
		const received: { topic: string; body: Record<string, unknown>; retain: boolean }[] = [];
		backend.on("message", (topic, payload, packet) => {
			try {
				received.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown>, retain: packet.retain });
			}
			catch {
				received.push({ topic, body: { raw: payload.toString() }, retain: packet.retain });
			}
		});
		await backend.subscribeAsync(`${base}/#`, { qos: 1 });

		device = new LinuxDevice({
			binary: build.binary,
			config: {
				device: {
					wifi: { ssid: "check", password: "check" },
					// keepAlive 20: when the SDK's Linux socket misses the broker's close (it only polls a
					// socket for reading once its writes are reported), keepalive finds the dead link
					// within 20 + 30 s (keepAlive + socket timeout).
					mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, keepAlive: 20 },
					auth: { mode: "password", username: clientId, password },
					device: { homeId: "check" },
					telemetry: { interval: 5, heartbeat: 60 },
					time: { servers: ["127.0.0.1"], wait: sntp ? 30 : 1 },
				},
				sensor: "dht22",
				file: { root: `${fs.mkdtempSync(path.join(os.tmpdir(), "check-device-data-"))}/` },
				linux: { mac: "02:00:00:C4:EC:00", ip: "127.0.0.1", ssid: "", password: "", joinMs: 200, rssi: -55, memorySampleMs: 500 },
			},
			onLine: (line) => lines.push(line),
		});
		const env = process.env;
		env.SENSOR_XS_SLOTS = String(limits.slots);
		env.SENSOR_XS_CHUNKS = String(limits.chunks);
		env.SENSOR_XS_STACK = String(limits.stack);
		device.start();
		let exitCode: number | null | undefined;
		void device.exited.then((code) => {
			exitCode = code;
		});
		const alive = () => {
			if (exitCode !== undefined) failed("linux", `the firmware exited (code ${exitCode})`, log());
			return true;
		};
		const has = (text: string) => lines.some((l) => l.includes(text));
		/** until(), failing at once if the firmware has exited. */
		const wait = (step: string, what: string, ms: number, test: () => boolean) => until(step, what, ms, test, log, alive);
		const topics = (suffix: string) => received.filter((m) => m.topic === `${base}/${suffix}`);

		await wait("boot", "the boot line", 15_000, () => has("🚀 Booting"));
		say("boot", `firmware up in a ${limits.slots}-slot, ${limits.chunks}-byte, ${limits.stack}-slot-stack XS machine (the board's ${limits.creation.heap.initial}/${limits.creation.chunk.initial}/${limits.creation.stack} ÷ ${HEADROOM})`);
		await wait("online", "MQTT connected and the retained status", 60_000, () => has("✅ MQTT connected!") && topics("status").some((m) => m.body.online === true));
		say("online", `connected to Mosquitto as ${clientId} (password auth${sntp ? ", time from the local SNTP server" : ", no SNTP (not root)"}), status online:true retained`);
		await wait("telemetry", "a telemetry message", 30_000, () => topics("telemetry").length > 0);
		const first = topics("telemetry")[0].body as { seq: number; sensors: { temperature: number; humidity: number } };
		say("telemetry", `seq ${first.seq}: ${first.sensors.temperature} °C, ${first.sensors.humidity} % (the DHT22 driver decoding the simulated line)`);

		const commandId = `check-${Date.now()}`;
		await backend.publishAsync(`${base}/commands`, JSON.stringify({ commandId, type: "SET_POWER", payload: { power: true, brightness: 42 } }), { qos: 1 });
		await wait("command", "the command's response", 20_000, () => topics("responses").some((m) => m.body.commandId === commandId));
		const answer = topics("responses").find((m) => m.body.commandId === commandId)!.body;
		if (answer.status !== "ok") failed("command", `SET_POWER answered ${JSON.stringify(answer)}`, log());
		say("command", `SET_POWER ${commandId} answered ok`);

		const connectedBefore = lines.filter((l) => l.includes("✅ MQTT connected!")).length;
		const seqBefore = Math.max(...topics("telemetry").map((m) => (m.body as { seq: number }).seq));
		await broker.restart();
		const restartedAt = Date.now();
		await wait("restart", "the reconnection after the broker restart", 150_000, () => lines.filter((l) => l.includes("✅ MQTT connected!")).length > connectedBefore);
		await wait("restart", "the readings taken while the broker was away", 30_000, () => {
			const seqs = new Set(topics("telemetry").map((m) => (m.body as { seq: number }).seq));
			const newest = Math.max(...seqs);
			if (newest < seqBefore + 3) return false;
			for (let s = first.seq; s <= newest; s++) if (!seqs.has(s)) return false;
			return true;
		});
		const seqs = topics("telemetry").map((m) => (m.body as { seq: number }).seq);
		say("restart", `broker restarted; reconnected after ${((Date.now() - restartedAt) / 1000).toFixed(0)} s; telemetry seq ${Math.min(...seqs)}..${Math.max(...seqs)} all delivered (readings queued while it was away)`);

		if (soakSeconds > 0) {
			const end = Date.now() + soakSeconds * 1000;
			let commands = 0;
			let configs = 0;
			let restarts = 0;
			for (let tick = 1; Date.now() < end; tick++) {
				await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, Math.max(0, end - Date.now()))));
				alive();
				const id = `soak-${tick}`;
				await backend.publishAsync(`${base}/commands`, JSON.stringify({ commandId: id, type: "SET_POWER", payload: { power: tick % 2 === 0, brightness: tick % 100 } }), { qos: 1 });
				await wait("soak", `the response to ${id}`, 30_000, () => topics("responses").some((m) => m.body.commandId === id));
				commands++;
				if (tick % 3 === 0) {
					await backend.publishAsync(`${base}/config`, JSON.stringify({ config: { sampleRate: 5 + (tick % 2), alertThresholds: { temperature: 30 + (tick % 5), humidity: 80, gas: null } } }), { qos: 1 });
					configs++;
				}
				if (tick % 6 === 0) {
					const before = lines.filter((l) => l.includes("✅ MQTT connected!")).length;
					await broker.restart();
					await wait("soak", "the reconnection", 150_000, () => lines.filter((l) => l.includes("✅ MQTT connected!")).length > before);
					restarts++;
				}
			}
			const all = new Set(topics("telemetry").map((m) => (m.body as { seq: number }).seq));
			const newest = Math.max(...all);
			const lost = [];
			for (let s = first.seq; s <= newest; s++) if (!all.has(s)) lost.push(s);
			if (lost.length) failed("soak", `telemetry lost: seq ${lost.join(", ")}`, log());
			say("soak", `${soakSeconds} s: ${commands} commands answered, ${configs} remote configurations, ${restarts} broker restarts; telemetry seq ${first.seq}..${newest} all delivered`);
		}

		const statusesBefore = topics("status").length;
		const code = await device.stop();
		if (code !== 0) failed("stop", `the firmware exited with ${code} on SIGINT`, log());
		await until("stop", "the offline status", 10_000, () => topics("status").slice(statusesBefore).some((m) => m.body.online === false), log);
		say("stop", "SIGINT: status online:false published, DISCONNECT, exit 0");

		// Memory, as the process reported it at exit.
		const memory = lines.find((l) => l.startsWith("# xs memory:")) ?? "";
		const live = lines.find((l) => l.startsWith("# xs live:")) ?? "";
		const stack = /stack peak (\d+) of (\d+)/.exec(memory);
		const slots = /slots max (\d+), chunks max (\d+)/.exec(live);
		if (!stack || !slots) failed("memory", "the firmware printed no memory figures", log());
		const aborts = lines.filter((l) => l.includes("# xs abort"));
		if (aborts.length) failed("memory", "XS aborted", aborts.join("\n"));
		// The firmware's own error traces (an exception caught in a timer, a bad build configuration).
		const traced = lines.filter((l) => l.includes("<error>"));
		if (traced.length) failed("errors", `the firmware traced ${traced.length} error(s)`, traced.join("\n"));
		const peakStack = Number(stack[1]);
		say("memory", `peak live slots ${slots[1]} (budget ${limits.slots}), peak live chunks ${slots[2]} bytes (budget ${limits.chunks}), peak stack ${peakStack} slots (budget ${limits.stack}); ${memory.replace(/^# xs memory: /, "high-water: ")}`);
		if (Number(slots[1]) > limits.slots || Number(slots[2]) > limits.chunks || peakStack > limits.stack) failed("memory", "above the budget");
	}
	finally {
		await device?.stop().catch(() => undefined);
		await backend?.endAsync(true).catch(() => undefined);
		await broker?.stop().catch(() => undefined);
		sntp?.close();
	}
}

/* ----------------------------------------------------------------------------------------- */

async function main(argv: string[]): Promise<number> {
	let only: string | undefined;
	let soak = 0;
	for (let i = 0; i < argv.length; i += 2) {
		if (argv[i] === "--only" && (argv[i + 1] === "esp32" || argv[i + 1] === "linux")) only = argv[i + 1];
		else if (argv[i] === "--soak" && /^\d+$/.test(argv[i + 1] ?? "")) soak = Number(argv[i + 1]);
		else {
			process.stderr.write("usage: npm run check:device [-- --only esp32|linux] [--soak SECONDS]\n");
			return 2;
		}
	}
	let sdk: { root: string; bin: string };
	try {
		sdk = moddableSdk();
	}
	catch (e) {
		if (e instanceof SdkMissing) {
			process.stderr.write(`check:device: ${e.message}\n`);
			return EXIT_ENVIRONMENT;
		}
		throw e;
	}
	try {
		if (only !== "linux") {
			const esp = buildEsp32(sdk.root, sdk.bin);
			reportEsp32(esp, sdk.root);
			checkImports(esp);
			fs.rmSync(esp.out, { recursive: true, force: true });
		}
		if (only !== "esp32") await runLinux(soak);
		say("passed", only === "esp32" ? "the esp32s3 build" : only === "linux" ? "the Linux XS scenario" : "the device build and the Linux XS scenario");
		return 0;
	}
	catch (e) {
		if (e instanceof SdkMissing) {
			process.stderr.write(`check:device: ${e.message}\n`);
			return EXIT_ENVIRONMENT;
		}
		if (e instanceof CheckFailed) {
			process.stdout.write(`check:device: FAILED  ${e.message}\n`);
			return EXIT_FAILED;
		}
		throw e;
	}
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e: unknown) => {
	process.stderr.write(`check:device: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
	process.exit(EXIT_FAILED);
});

/*
 * The host simulator: `npm start [-- flags]`, and the Linux XS target: `npm run device:linux [-- flags]`.
 *
 * Runs one sensor node on the real clock and real TCP: by default the same Device the board runs,
 * in this Node process with host adapters; with --target linux the firmware itself, built by
 * mcconfig for Moddable's Linux runtime (real XS, the SDK's sockets, timers, SNTP, preferences,
 * crypt; see test-host/linux-target.ts). Without --broker it also starts an embedded broker (aedes,
 * verifying the device's JWT as EMQX does) and a backend client that prints what arrives and sends
 * the device a SET_POWER.
 */

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import mqtt from "mqtt";
import { formatHuman, formatJson } from "../src/events";
import { clientIdFromMac, normalizeMac } from "../src/identity";
import type { LogRecord } from "../src/ports";
import { defaultConfig, validateConfig, type DeviceConfig } from "../src/settings";
import { RealClock, realWorldClock } from "./adapters/clock";
import { FileStore, MemoryStore } from "./adapters/store";
import { cryptoRandom, type LogFormat } from "./adapters/system";
import { nodeTcp } from "./adapters/tcp";
import { EmbeddedBroker, type BrokerAuth } from "./brokers/embedded";
import { LinuxDevice, SdkMissing, buildLinuxTarget, startLocalSntp } from "./linux-target";
import { SimFlash } from "./ota/flash";
import { makeSimImage } from "./ota/image";
import { SimulatedDevice } from "./sim";
import { FIRMWARE_NAME, FIRMWARE_VERSION } from "../src/version";

const HELP = `Usage: npm start -- [options]

Runs a simulated ESP32-S3 sensor node with the firmware's own logic. Without --broker it starts an
embedded MQTT broker (verifying the device's JWT as EMQX does) and a backend client.

  --broker URL               mqtt://host:port or mqtts://host:port (default: embedded broker)
  --auth MODE                jwt | password | none (default jwt)
  --jwt-secret SECRET        HS256 shared secret (default: the development secret)
  --jwt-issuer ISS           iss claim (default esp32-sensor)
  --jwt-audience AUD         aud claim (default emqx)
  --jwt-ttl SECONDS          token lifetime (default 3600)
  --jwt-refresh SECONDS      planned reconnect with a fresh token (default 1800)
  --username NAME            MQTT user name
  --password PASSWORD        MQTT password (auth password)
  --device-mac MAC           AA:BB:CC:DD:EE:FF (default 24:6F:28:8E:A4:0C)
  --telemetry-interval SECONDS   default 30
  --heartbeat-interval SECONDS   default 60
  --topic-scheme SCHEME      smarthome | tenant | sensor (default smarthome)
  --mqtt-version 4|5         MQTT protocol level (default 4; the embedded broker speaks 4)
  --ca FILE                  CA certificate (PEM) for mqtts://
  --duration SECONDS         run this long, then disconnect cleanly and exit 0
  --log FORMAT               human | json (default human)
  --config FILE              JSON with the device configuration schema (see README)
  --data-dir DIR             keep the device's preferences in DIR (default: in memory)
  --setup                    open setup mode (simulated access point; the setup page and captive
                             DNS really served on 127.0.0.1) and print the page's URL; the
                             simulated networks are sim-ap (password sim-password) and neighbour
  --setup-port PORT          the setup page's port (default 8080; DNS on PORT+1)
  --ota-public-key HEX       accept firmware updates signed by this key (npm run ota -- keygen; a
                             simulated two-slot flash in memory; see docs/ota.md)
  --target sim|linux         sim: the logic in this process (default); linux: the firmware built
                             by mcconfig for Moddable's Linux target (needs $MODDABLE; see README)
  --help                     this text
`;

export class UsageError extends Error {}

/**
 * A command's arguments through its parser: the options, or the exit code when there is nothing to
 * run (2 after a usage error, written to stderr; 0 after --help, printed). For every CLI here.
 */
export function commandLine<T>(parse: (argv: string[]) => T | "help", help: string): { options: T } | { exitCode: number } {
	let options: T | "help";
	try {
		options = parse(process.argv.slice(2));
	}
	catch (e) {
		if (e instanceof UsageError || e instanceof RangeError) {
			process.stderr.write(`error: ${e.message}\n`);
			return { exitCode: 2 };
		}
		throw e;
	}
	if (options === "help") {
		process.stdout.write(help);
		return { exitCode: 0 };
	}
	return { options };
}

export interface Options {
	broker?: string;
	duration?: number;
	log: LogFormat;
	configFile?: string;
	dataDir?: string;
	otaPublicKey?: string;
	target: "sim" | "linux";
	mac: string;
	setup?: boolean;
	setupPort?: number;
	overrides: { path: string[]; value: unknown }[];
}

export type Kind = "string" | "int" | "enum" | "mac" | "url" | "file" | "flag";
export interface Flag {
	kind: Kind;
	values?: string[];
	/** Where the value goes in the device configuration. */
	path?: string[];
	apply?: (o: Options, value: unknown) => void;
}

export const FLAGS: Record<string, Flag> = {
	"--broker": { kind: "url", apply: (o, v) => { o.broker = v as string; o.overrides.push({ path: ["mqtt", "url"], value: v }); } },
	"--auth": { kind: "enum", values: ["jwt", "password", "none"], path: ["auth", "mode"] },
	"--jwt-secret": { kind: "string", path: ["auth", "jwtSecret"] },
	"--jwt-issuer": { kind: "string", path: ["auth", "jwtIssuer"] },
	"--jwt-audience": { kind: "string", path: ["auth", "jwtAudience"] },
	"--jwt-ttl": { kind: "int", path: ["auth", "jwtTtl"] },
	"--jwt-refresh": { kind: "int", path: ["auth", "jwtRefresh"] },
	"--username": { kind: "string", path: ["auth", "username"] },
	"--password": { kind: "string", path: ["auth", "password"] },
	"--device-mac": { kind: "mac", apply: (o, v) => { o.mac = v as string; } },
	"--telemetry-interval": { kind: "int", path: ["telemetry", "interval"] },
	"--heartbeat-interval": { kind: "int", path: ["telemetry", "heartbeat"] },
	"--topic-scheme": { kind: "enum", values: ["smarthome", "tenant", "sensor"], path: ["topics", "scheme"] },
	"--mqtt-version": { kind: "enum", values: ["4", "5"], path: ["mqtt", "protocolVersion"] },
	"--ca": { kind: "file", apply: (o, v) => o.overrides.push({ path: ["mqtt", "ca"], value: fs.readFileSync(v as string, "utf8") }) },
	"--duration": { kind: "int", apply: (o, v) => { o.duration = v as number; } },
	"--log": { kind: "enum", values: ["human", "json"], apply: (o, v) => { o.log = v as LogFormat; } },
	"--config": { kind: "file", apply: (o, v) => { o.configFile = v as string; } },
	"--data-dir": { kind: "string", apply: (o, v) => { o.dataDir = v as string; } },
	"--ota-public-key": { kind: "string", apply: (o, v) => { o.otaPublicKey = v as string; } },
	"--target": { kind: "enum", values: ["sim", "linux"], apply: (o, v) => { o.target = v as Options["target"]; } },
	"--setup": { kind: "flag", apply: (o) => { o.setup = true; } },
	"--setup-port": { kind: "int", apply: (o, v) => { o.setupPort = v as number; } },
	"--help": { kind: "flag" },
};

/** The command-line flag that sets a configuration path, to name it in errors. */
function flagFor(path: string): string | undefined {
	for (const [name, flag] of Object.entries(FLAGS)) if (flag.path?.join(".") === path) return name;
	return undefined;
}

export function parseValue(name: string, flag: Flag, raw: string | undefined): unknown {
	if (raw === undefined || raw === "") throw new UsageError(`${name} needs a value`);
	switch (flag.kind) {
		case "int": {
			if (!/^\d+$/.test(raw) || Number(raw) <= 0) throw new UsageError(`${name} must be a positive whole number of seconds, not "${raw}"`);
			return Number(raw);
		}
		case "enum":
			if (!flag.values!.includes(raw)) throw new UsageError(`${name} must be one of ${flag.values!.join(", ")}, not "${raw}"`);
			return /^\d+$/.test(raw) ? Number(raw) : raw;
		case "mac": {
			const mac = normalizeMac(raw);
			if (!mac) throw new UsageError(`${name} must look like AA:BB:CC:DD:EE:FF, not "${raw}"`);
			return mac;
		}
		case "url":
			checkBrokerUrl(name, raw);
			return raw;
		case "file":
			if (!fs.existsSync(raw)) throw new UsageError(`${name}: file "${raw}" not found`);
			return raw;
		default:
			return raw;
	}
}

/** mqtt://host:port or mqtts://host:port, the port (when given) from 1 to 65535. */
function checkBrokerUrl(name: string, raw: string): void {
	if (!/^mqtts?:\/\/[^/:\s]+(:\d+)?\/?$/.test(raw)) throw new UsageError(`${name} must be mqtt://host:port or mqtts://host:port, not "${raw}"`);
	checkBrokerPort(name, raw);
}

function checkBrokerPort(name: string, url: string): void {
	const port = /:(\d+)\/?$/.exec(url)?.[1];
	if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) throw new UsageError(`${name}: port ${port} is out of range (1 to 65535) in "${url}"`);
}

/** Kernel file systems: their "files" are not storage, and writing there can hang or do things. */
const KERNEL_FS = ["/proc", "/sys"];

function errnoText(e: unknown): string {
	const err = e as NodeJS.ErrnoException;
	return err.code ? `${err.code}: ${err.message.replace(/^\w+: /, "").replace(/, \w+ '.*'$/, "")}` : String(err.message ?? e);
}

/**
 * The --data-dir the store will use, checked before anything starts: not on a kernel file system
 * (symbolic links followed), a directory (created when missing), and writable (a file is written
 * and removed). Returns the absolute path.
 */
function checkDataDir(dir: string): string {
	const name = `--data-dir ${dir}`;
	const absolute = path.resolve(dir);
	// The real place: the nearest existing ancestor with its links resolved, plus the rest.
	let existing = absolute;
	while (!fs.existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
	let real: string;
	try {
		real = path.join(fs.realpathSync(existing), path.relative(existing, absolute));
	}
	catch (e) {
		throw new UsageError(`${name}: cannot resolve ${existing} (${errnoText(e)})`);
	}
	const kernel = KERNEL_FS.find((root) => real === root || real.startsWith(root + "/"));
	if (kernel) throw new UsageError(`${name}: ${real} is under ${kernel}, a kernel file system; choose a directory on disk`);
	if (fs.existsSync(absolute) && !fs.statSync(absolute).isDirectory()) throw new UsageError(`${name}: not a directory (a file of that name exists)`);
	try {
		fs.mkdirSync(absolute, { recursive: true });
	}
	catch (e) {
		throw new UsageError(`${name}: cannot create the directory (${errnoText(e)})`);
	}
	const probe = path.join(absolute, `.write-check-${process.pid}`);
	try {
		fs.writeFileSync(probe, "ok");
		fs.rmSync(probe);
	}
	catch (e) {
		throw new UsageError(`${name}: cannot write there (${errnoText(e)})`);
	}
	const prefs = path.join(absolute, "preferences.json");
	if (fs.existsSync(prefs) && !fs.statSync(prefs).isFile()) throw new UsageError(`${name}: ${prefs} exists and is not a file`);
	return absolute;
}

export function parseArgs(argv: string[]): Options | "help" {
	const o: Options = { log: "human", target: "sim", mac: "24:6F:28:8E:A4:0C", overrides: [] };
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		const eq = arg.indexOf("=");
		const name = eq > 0 ? arg.slice(0, eq) : arg;
		const flag = FLAGS[name];
		if (!flag) throw new UsageError(`unknown option ${name} (see --help)`);
		if (flag.kind === "flag") {
			if (!flag.apply) return "help";
			flag.apply(o, true);
			continue;
		}
		const raw = eq > 0 ? arg.slice(eq + 1) : argv[++i];
		const value = parseValue(name, flag, raw);
		if (flag.apply) flag.apply(o, value);
		else o.overrides.push({ path: flag.path!, value });
	}
	return o;
}

export function buildConfig(o: Options, brokerUrl: string | undefined): DeviceConfig {
	let config = defaultConfig();
	config.wifi = { ...config.wifi, ssid: "sim-ap", password: "sim-password" };
	config.time.servers = ["sim.ntp.local"];
	if (o.configFile) {
		let json: unknown;
		try {
			json = JSON.parse(fs.readFileSync(o.configFile, "utf8"));
		}
		catch (e) {
			throw new UsageError(`--config ${o.configFile}: not valid JSON (${(e as Error).message})`);
		}
		const checked = validateConfig(json, config);
		if (checked.errors.length) throw new UsageError(`--config ${o.configFile}: ${checked.errors[0]}`);
		config = checked.value;
	}
	const flags: Record<string, Record<string, unknown>> = {};
	for (const { path, value } of o.overrides) (flags[path[0]] ??= {})[path[1]] = value;
	if (brokerUrl) (flags.mqtt ??= {}).url = brokerUrl;
	const checked = validateConfig(flags, config);
	if (checked.errors.length) throw new UsageError(checked.errors[0].replace(/^(\w+\.\w+)/, (path) => flagFor(path) ?? path));
	return checked.value;
}

function brokerAuth(config: DeviceConfig): BrokerAuth {
	const a = config.auth;
	if (a.mode === "jwt") return { mode: "jwt", secret: a.jwtSecret, issuer: a.jwtIssuer || undefined, audience: a.jwtAudience || undefined };
	if (a.mode === "password") return { mode: "password", users: { [a.username || "device"]: a.password } };
	return { mode: "none" };
}

class Output {
	readonly #format: LogFormat;
	readonly #clock: RealClock;
	constructor(format: LogFormat, clock: RealClock) {
		this.#format = format;
		this.#clock = clock;
	}
	write(record: LogRecord): void {
		process.stdout.write((this.#format === "json" ? formatJson(record) : formatHuman(record)) + "\n");
	}
	/** Lines from the simulator itself (broker, backend), in the same format. */
	say(level: LogRecord["level"], event: string, fields: Record<string, unknown>, human: string): void {
		if (this.#format === "json") this.write({ ts: new Date().toISOString(), uptimeMs: this.#clock.now(), level, event, ...fields });
		else process.stdout.write(human + "\n");
	}
}

/** The backend: subscribes to the device's topics, prints what arrives, sends one SET_POWER. */
async function startBackend(url: string, password: string, device: DeviceConfig, clientId: string, out: Output): Promise<mqtt.MqttClient> {
	const client = await mqtt.connectAsync(url, { clientId: `backend_${process.pid}`, username: "backend", password, reconnectPeriod: 0, protocolVersion: 4 });
	await client.subscribeAsync(["smarthome/#", "tenant/#", `${clientId}/#`], { qos: 1 });
	out.say("info", "backend.connected", { url }, `🖥️  Backend connected to ${url}, listening for the device`);
	let commanded = false;
	client.on("message", (topic, payload) => {
		const text = payload.toString();
		if (/\/(commands|config|light\/control)$/.test(topic) || topic.includes("/command/")) return;
		out.say("info", "backend.received", { topic, bytes: payload.length, payload: text.length > 300 ? text.slice(0, 300) + "..." : text }, `📬 backend ← ${topic}: ${text}`);
		if (commanded || !topic.endsWith("/status") || !text.includes("\"online\":true")) return;
		commanded = true;
		const commandsTopic = topic.replace(/\/status$/, device.topics.scheme === "tenant" ? "/command/SET_POWER" : "/commands");
		setTimeout(() => {
			const command = { commandId: `demo-${Date.now()}`, timestamp: new Date().toISOString(), type: "SET_POWER", payload: { power: true, brightness: 80 }, source: "SIMULATOR", correlationId: "corr-demo" };
			out.say("info", "backend.command", { topic: commandsTopic, commandId: command.commandId, type: command.type }, `🖥️  Backend → ${commandsTopic}: SET_POWER power=true brightness=80`);
			client.publish(commandsTopic, JSON.stringify(command), { qos: 1 });
		}, 1500);
	});
	return client;
}

async function main(): Promise<number> {
	const parsed = commandLine(parseArgs, HELP);
	if ("exitCode" in parsed) return parsed.exitCode;
	const o = parsed.options;
	let config: DeviceConfig;
	try {
		if (o.target === "linux" && o.setup) throw new UsageError("--setup runs with --target sim (the Linux target has no access point)");
		if (o.target === "linux" && o.log === "json") throw new UsageError("--log json: the Linux target prints the serial monitor's lines; use --target sim for JSON events");
		config = buildConfig(o, undefined);
		if (o.configFile) checkBrokerPort(`--config ${o.configFile}: mqtt.url`, config.mqtt.url);
		if (o.dataDir !== undefined) o.dataDir = checkDataDir(o.dataDir);
	}
	catch (e) {
		if (e instanceof UsageError) {
			process.stderr.write(`error: ${e.message}\n`);
			return 2;
		}
		throw e;
	}
	const outClock = new RealClock();
	const out = new Output(o.log, outClock);
	let broker: EmbeddedBroker | undefined;
	let backend: mqtt.MqttClient | undefined;
	const backendPassword = Buffer.from(cryptoRandom.bytes(12)).toString("hex");
	if (!o.broker) {
		broker = await EmbeddedBroker.start({ auth: brokerAuth(config), serviceUsers: { backend: backendPassword } });
		const port = await broker.listen(0);
		config = { ...config, mqtt: { ...config.mqtt, url: `mqtt://127.0.0.1:${port}`, protocolVersion: 4 } };
		out.say("info", "sim.broker", { url: config.mqtt.url, auth: config.auth.mode }, `🧪 Embedded broker (aedes, ${config.auth.mode} auth) on ${config.mqtt.url}`);
	}
	const clientId = clientIdFromMac(o.mac, config.mqtt.clientIdPrefix);
	if (broker) backend = await startBackend(config.mqtt.url, backendPassword, config, clientId, out);
	const device = o.target === "linux" ? await startLinux(o, config, out) : startSim(o, config, out);
	if (!device) {
		await backend?.endAsync();
		await broker?.close();
		return 1;
	}
	const stop = async (): Promise<void> => {
		await device.shutdown();
		await backend?.endAsync();
		await broker?.close();
	};
	await new Promise<void>((resolve) => {
		let finishing = false;
		const finish = () => {
			if (finishing) return;
			finishing = true;
			stop().then(resolve, resolve);
		};
		if (o.duration) setTimeout(finish, o.duration * 1000);
		process.once("SIGINT", finish);
		process.once("SIGTERM", finish);
		device.exited?.then(finish);
	});
	return 0;
}

interface Running {
	shutdown(): Promise<unknown>;
	/** Resolves if the device ends by itself (the Linux target's process). */
	exited?: Promise<unknown>;
}

const SIM_NETWORKS = [
	{ ssid: "sim-ap", password: "sim-password", rssi: -52 },
	{ ssid: "neighbour", password: "neighbour-secret", rssi: -79 },
	{ ssid: "cafe-guest", password: "", rssi: -71 },
];

function startSim(o: Options, config: DeviceConfig, out: Output): Running {
	const store = o.dataDir ? new FileStore(o.dataDir) : new MemoryStore();
	if (o.setup) store.set("setupReq", "forced");
	const setupPort = o.setupPort ?? 8080;
	const sim = new SimulatedDevice({
		config,
		mac: o.mac,
		clock: () => new RealClock(),
		world: realWorldClock,
		tcp: nodeTcp,
		store,
		log: (record) => out.write(record),
		random: cryptoRandom,
		wifiJoinMs: 800,
		networks: o.setup ? SIM_NETWORKS : undefined,
		provisioning: o.setup ? {
			httpPort: setupPort,
			dnsPort: setupPort + 1,
			onSetup: (setup) => {
				const announce = () => {
					if (!setup.url) return void setTimeout(announce, 50);
					out.say("info", "sim.setup", { url: setup.url, dnsPort: setup.dnsPort }, `📶 Setup mode: open ${setup.url} (captive DNS on 127.0.0.1:${setup.dnsPort}; networks: sim-ap / sim-password, neighbour, cafe-guest)`);
				};
				announce();
			},
		} : undefined,
		ota: o.otaPublicKey ? { flash: new SimFlash(makeSimImage({ name: FIRMWARE_NAME, version: FIRMWARE_VERSION, board: "esp32s3" })), publicKey: o.otaPublicKey } : undefined,
	});
	sim.boot();
	return { shutdown: () => sim.shutdown() };
}

/** Builds the firmware for the Linux target and runs it; undefined (after saying why) when it cannot. */
async function startLinux(o: Options, config: DeviceConfig, out: Output): Promise<Running | undefined> {
	out.say("info", "linux.build", {}, "🔧 Building the firmware for Moddable's Linux target (mcconfig -m -i -p x-cli-lin)...");
	let build: ReturnType<typeof buildLinuxTarget>;
	try {
		build = buildLinuxTarget();
	}
	catch (e) {
		if (!(e instanceof SdkMissing)) throw e;
		process.stderr.write(`error: ${e.message}\n`);
		return undefined;
	}
	if (!build.ok) {
		process.stderr.write(`${build.output.split("\n").slice(-30).join("\n")}\nerror: the Linux build failed (above)\n`);
		return undefined;
	}
	const sntp = await startLocalSntp();
	if (sntp) config = { ...config, time: { ...config.time, servers: ["127.0.0.1"] } };
	else out.say("warn", "linux.sntp", {}, "⚠️  Cannot serve SNTP on 127.0.0.1:123 (needs root): the firmware asks the configured NTP servers");
	const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sensor-linux-"));
	fs.mkdirSync(dataDir, { recursive: true });
	const device = new LinuxDevice({
		binary: build.binary,
		config: {
			device: config,
			sensor: config.sensor.model,
			ota_public_key: o.otaPublicKey ?? "",
			file: { root: `${dataDir}/` },
			linux: { mac: o.mac, ip: "127.0.0.1", ssid: "", password: "", joinMs: 200, rssi: -55, memorySampleMs: 0 },
		},
		onLine: (line) => process.stdout.write(`${line}\n`),
		onExit: (code, rebooting) => {
			if (rebooting) out.say("warn", "linux.reboot", { code }, "🔁 The firmware restarted itself: starting it again (as the board's reset would)");
		},
	});
	device.start();
	return {
		shutdown: async () => {
			await device.stop();
			sntp?.close();
		},
		exited: device.exited,
	};
}

// Run only as the program: the fleet tool imports the flag table and parser from here (also bundled).
if (process.argv[1] && /(^|[\\/])cli\.ts$/.test(process.argv[1]) && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
	main().then(
		(code) => process.exit(code),
		(e: unknown) => {
			process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
			process.exit(1);
		},
	);
}

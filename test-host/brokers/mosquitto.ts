/*
 * Test harness: Debian's Mosquitto broker as a child process.
 *
 * startMosquitto() writes a throwaway config (password file, ACL, dynamic security json,
 * openssl-made TLS certs) into a temp dir, starts `mosquitto -c`, waits until it accepts TCP
 * connections and logs "running", and returns a handle to reload (SIGHUP), change passwords,
 * drive the dynamic security plugin through mosquitto_ctrl, restart and stop it.
 *
 * Running as root, Mosquitto drops privileges to user `mosquitto`: the temp dir is made 0777
 * and every file 0644 (0666 for the dynsec json, which the plugin writes back), keys included,
 * since they are throwaway test keys.
 *
 * Every broker still running when the process exits is SIGKILLed by an 'exit' handler.
 */

import { execFile, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { accessSync, constants, promises as fs, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface MosquittoOptions {
	/** Password file entries, created with `mosquitto_passwd -b`. */
	users?: Record<string, string>;
	/** ACL file contents; when absent (and users given) every authenticated user may do anything. */
	acl?: string;
	/** Default: false when users or dynsec are given, else true. */
	allowAnonymous?: boolean;
	/** Enables the dynamic security plugin, initialised with `mosquitto_ctrl dynsec init`. */
	dynsec?: { adminUser: string; adminPassword: string };
	/**
	 * Adds a TLS listener with a CA and a server cert made by openssl. commonName defaults to
	 * "localhost"; altNames are openssl SAN entries ("DNS:x", "IP:1.2.3.4"; a bare name is DNS,
	 * a bare address IP) and default to the common name plus IP:127.0.0.1.
	 */
	tls?: boolean | { commonName?: string; altNames?: string[] };
	/** Appended to mosquitto.conf. */
	extraConfig?: string;
	/** Copy the broker log to stderr as it arrives (debugging). */
	logToConsole?: boolean;
	/**
	 * A password file's text, already hashed (`user:$7$...` lines, as mosquitto_passwd writes
	 * them): for thousands of users, where one mosquitto_passwd run per user is too slow.
	 * Combined with `users` when both are given.
	 */
	passwordFileText?: string;
	/** log_type lines (default ["all"]); a big fleet keeps the log to connections: ["error", "warning", "notice", "information"]. */
	logTypes?: string[];
	/**
	 * The broker's open-file limit (RLIMIT_NOFILE), set by `ulimit -n` in the shell that execs it;
	 * capped at the hard limit when it is lower (default: inherited from this process).
	 */
	openFiles?: number;
}

export interface Mosquitto {
	host: "127.0.0.1";
	/** Plain MQTT listener. */
	port: number;
	/** TLS listener, when options.tls. */
	tlsPort?: number;
	/** The CA that signed the server cert (PEM). */
	caPem?: string;
	/** A second, unrelated CA, for wrong-CA tests (PEM). */
	otherCaPem?: string;
	/** The temp dir holding config, password file, ACL, certs, dynsec json. */
	dir: string;
	/** Broker log (stderr) so far, across restarts. */
	log(): string;
	/** SIGHUP: re-reads config, password file and ACL; resolves once the broker has reloaded. */
	reload(): Promise<void>;
	/** Rewrites the password file entry with `mosquitto_passwd -b`; does NOT reload. */
	setPassword(user: string, password: string): Promise<void>;
	/** `mosquitto_ctrl ... dynsec <args>` as the dynsec admin; stdout, or rejects with stderr. */
	dynsec(...args: string[]): Promise<string>;
	/** SIGTERM (SIGKILL after 3 s), waits for exit, removes the temp dir. Idempotent. */
	stop(): Promise<void>;
	/** Stops the process and starts it again on the same ports and config. */
	restart(): Promise<void>;
	/** The broker's process id while it runs. */
	pid(): number | undefined;
}

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 5000;
const POLL_MS = 50;
const KILL_AFTER_MS = 3000;
const COMMAND_TIMEOUT_MS = 15000;
const SEARCH_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"];
const TOOLS = ["mosquitto", "mosquitto_passwd", "mosquitto_ctrl", "openssl"] as const;
type Tool = (typeof TOOLS)[number];
const PLUGIN_NAME = "mosquitto_dynamic_security.so";
const PLUGIN_DIRS = [
	"/usr/lib/x86_64-linux-gnu",
	"/usr/lib/aarch64-linux-gnu",
	"/usr/lib",
	"/usr/local/lib",
];

// ---------------------------------------------------------------------------------------------
// Finding the tools

function isExecutable(file: string): boolean {
	try {
		accessSync(file, constants.X_OK);
		return true;
	} catch {
		return false;
	}
}

function isReadable(file: string): boolean {
	try {
		accessSync(file, constants.R_OK);
		return true;
	} catch {
		return false;
	}
}

function findTool(name: string): string | undefined {
	const pathDirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
	for (const dir of [...pathDirs, ...SEARCH_DIRS]) {
		const file = path.join(dir, name);
		if (isExecutable(file)) return file;
	}
	return undefined;
}

function findPlugin(): string | undefined {
	return PLUGIN_DIRS.map((dir) => path.join(dir, PLUGIN_NAME)).find(isReadable);
}

function tool(name: Tool): string {
	const file = findTool(name);
	if (file === undefined) throw new Error(`${name} not found`);
	return file;
}

/** Whether mosquitto, mosquitto_passwd, mosquitto_ctrl, openssl and the dynsec plugin exist. */
export function mosquittoAvailable(): { ok: true } | { ok: false; reason: string } {
	const missing: string[] = TOOLS.filter((name) => findTool(name) === undefined);
	if (findPlugin() === undefined) missing.push(PLUGIN_NAME);
	if (missing.length === 0) return { ok: true };
	return {
		ok: false,
		reason: `missing ${missing.join(", ")} (Debian packages: mosquitto mosquitto-clients openssl)`,
	};
}

function warnLoudly(message: string): void {
	const bar = "!".repeat(78);
	console.warn(`\n${bar}\n!!! SKIPPED: ${message}\n${bar}\n`);
}

/**
 * True when the broker can be used. When it can't: on CI (CI=true) throws, because .ci/run must
 * install it; elsewhere warns loudly and returns false so the caller can t.pass() / skip.
 */
export async function requireMosquitto(t?: { log(msg: string): void }): Promise<boolean> {
	const available = mosquittoAvailable();
	if (available.ok) return true;
	const message = `Mosquitto broker tests: ${available.reason}.`;
	if (process.env.CI === "true") {
		throw new Error(`${message} .ci/run must install them (apt-get install mosquitto mosquitto-clients openssl).`);
	}
	warnLoudly(`${message} Install them to run these tests; CI runs them.`);
	t?.log(`SKIPPED: ${message}`);
	return false;
}

// ---------------------------------------------------------------------------------------------
// Child processes and files

interface Output {
	stdout: string;
	stderr: string;
}

function commandError(file: string, args: string[], detail: string): Error {
	return new Error(`${path.basename(file)} ${args.join(" ")} failed: ${detail.trim()}`);
}

function runCapture(file: string, args: string[], cwd?: string): Promise<Output> {
	return new Promise((resolve, reject) => {
		const options = { cwd, timeout: COMMAND_TIMEOUT_MS, encoding: "utf8" as const };
		const child = execFile(file, args, options, (error, stdout, stderr) => {
			if (error) reject(commandError(file, args, stderr || stdout || error.message));
			else resolve({ stdout, stderr });
		});
		// EOF on stdin: a tool that prompts (mosquitto_ctrl createClient without -p) fails at once.
		child.stdin?.end();
	});
}

async function run(file: string, args: string[], cwd?: string): Promise<string> {
	return (await runCapture(file, args, cwd)).stdout;
}

const CTRL_PLAINTEXT_WARNING =
	/Warning: You are running mosquitto_ctrl without encryption\.\nThis means .*passwords\.\n/;

/**
 * mosquitto_ctrl 2.0.11 exits 0 even when the command fails ("getClient: Error: Client not
 * found", "Connection error: Not authorized"), printing the error on stderr after a warning
 * about plaintext: anything left on stderr once that warning is removed is a failure.
 */
async function runCtrl(file: string, args: string[]): Promise<string> {
	const { stdout, stderr } = await runCapture(file, args);
	const rest = stderr.replace(CTRL_PLAINTEXT_WARNING, "").trim();
	if (rest) throw commandError(file, args.slice(args.indexOf("dynsec")), rest);
	return stdout;
}

async function writeReadable(file: string, text: string, mode = 0o644): Promise<void> {
	await fs.writeFile(file, text);
	await fs.chmod(file, mode);
}

async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once("error", reject);
		server.listen(0, HOST, () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => (port ? resolve(port) : reject(new Error("no free port"))));
		});
	});
}

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

function tcpConnects(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect({ host: HOST, port });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

// ---------------------------------------------------------------------------------------------
// TLS material

interface TlsFiles {
	caFile: string;
	certFile: string;
	keyFile: string;
	caPem: string;
	otherCaPem: string;
}

function sanEntry(name: string): string {
	if (/^(DNS|IP|email|URI):/.test(name)) return name;
	return net.isIP(name) ? `IP:${name}` : `DNS:${name}`;
}

async function makeCa(openssl: string, dir: string, name: string): Promise<string> {
	await run(openssl, [
		"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2",
		"-subj", `/CN=Mosquitto harness ${name}`,
		"-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign",
	], dir);
	return path.join(dir, `${name}.crt`);
}

async function makeServerCert(openssl: string, dir: string, commonName: string, altNames: string[]): Promise<void> {
	const ext = [
		"basicConstraints=CA:FALSE",
		"keyUsage=critical,digitalSignature,keyEncipherment",
		"extendedKeyUsage=serverAuth",
		`subjectAltName=${altNames.map(sanEntry).join(",")}`,
	].join("\n");
	await writeReadable(path.join(dir, "server.ext"), `${ext}\n`);
	await run(openssl, [
		"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${commonName}`,
	], dir);
	await run(openssl, [
		"x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
		"-out", "server.crt", "-days", "2", "-extfile", "server.ext",
	], dir);
}

async function makeTls(dir: string, tls: true | { commonName?: string; altNames?: string[] }): Promise<TlsFiles> {
	const openssl = tool("openssl");
	const commonName = (tls === true ? undefined : tls.commonName) ?? "localhost";
	const altNames = (tls === true ? undefined : tls.altNames) ?? [commonName, "127.0.0.1"];
	const caFile = await makeCa(openssl, dir, "ca");
	const otherCaFile = await makeCa(openssl, dir, "other-ca");
	await makeServerCert(openssl, dir, commonName, altNames);
	for (const file of await fs.readdir(dir)) await fs.chmod(path.join(dir, file), 0o644);
	return {
		caFile,
		certFile: path.join(dir, "server.crt"),
		keyFile: path.join(dir, "server.key"),
		caPem: await fs.readFile(caFile, "utf8"),
		otherCaPem: await fs.readFile(otherCaFile, "utf8"),
	};
}

// ---------------------------------------------------------------------------------------------
// Config

interface Layout {
	dir: string;
	port: number;
	tlsPort: number | undefined;
	tlsFiles: TlsFiles | undefined;
	passwordFile: string | undefined;
	aclFile: string | undefined;
	dynsecFile: string | undefined;
	plugin: string | undefined;
	config: string;
}

function listenerLines(layout: Layout): string[] {
	const lines = [`listener ${layout.port} ${HOST}`];
	const tls = layout.tlsFiles;
	if (layout.tlsPort !== undefined && tls) {
		lines.push(
			`listener ${layout.tlsPort} ${HOST}`,
			`cafile ${tls.caFile}`,
			`certfile ${tls.certFile}`,
			`keyfile ${tls.keyFile}`,
			"require_certificate false",
		);
	}
	return lines;
}

function configText(layout: Layout, options: MosquittoOptions): string {
	const anonymous = options.allowAnonymous ?? !(options.users || options.dynsec);
	const lines = [
		"per_listener_settings false",
		"persistence false",
		`allow_anonymous ${anonymous}`,
		"log_dest stderr",
		...(options.logTypes ?? ["all"]).map((type) => `log_type ${type}`),
		"log_timestamp true",
		"log_timestamp_format %Y-%m-%dT%H:%M:%S",
	];
	if (layout.passwordFile) lines.push(`password_file ${layout.passwordFile}`);
	if (layout.aclFile) lines.push(`acl_file ${layout.aclFile}`);
	if (layout.plugin && layout.dynsecFile) {
		lines.push(`plugin ${layout.plugin}`, `plugin_opt_config_file ${layout.dynsecFile}`);
	}
	lines.push(...listenerLines(layout));
	if (options.extraConfig) lines.push(options.extraConfig);
	return `${lines.join("\n")}\n`;
}

async function makePasswordFile(dir: string, users: Record<string, string>, text = ""): Promise<string> {
	const file = path.join(dir, "passwd");
	await writeReadable(file, text && !text.endsWith("\n") ? `${text}\n` : text);
	for (const [user, password] of Object.entries(users)) await setPasswordIn(file, user, password);
	return file;
}

async function setPasswordIn(file: string, user: string, password: string): Promise<void> {
	await run(tool("mosquitto_passwd"), ["-b", file, user, password]);
	await fs.chmod(file, 0o644);
}

async function makeDynsecFile(dir: string, admin: { adminUser: string; adminPassword: string }): Promise<string> {
	const file = path.join(dir, "dynamic-security.json");
	await run(tool("mosquitto_ctrl"), ["dynsec", "init", file, admin.adminUser, admin.adminPassword]);
	await fs.chmod(file, 0o666);
	return file;
}

async function prepare(options: MosquittoOptions): Promise<Layout> {
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), "mosquitto-"));
	liveDirs.add(dir);
	try {
		await fs.chmod(dir, 0o777);
		return await prepareIn(dir, options);
	} catch (error) {
		await removeDir(dir);
		throw error;
	}
}

async function prepareIn(dir: string, options: MosquittoOptions): Promise<Layout> {
	const layout: Layout = {
		dir,
		port: await freePort(),
		tlsPort: options.tls ? await freePort() : undefined,
		tlsFiles: options.tls ? await makeTls(dir, options.tls) : undefined,
		passwordFile: options.users || options.passwordFileText !== undefined ? await makePasswordFile(dir, options.users ?? {}, options.passwordFileText) : undefined,
		aclFile: undefined,
		dynsecFile: options.dynsec ? await makeDynsecFile(dir, options.dynsec) : undefined,
		plugin: options.dynsec ? findPlugin() : undefined,
		config: "",
	};
	if (options.dynsec && !layout.plugin) throw new Error(`${PLUGIN_NAME} not found`);
	if (options.acl !== undefined) {
		layout.aclFile = path.join(dir, "acl");
		await writeReadable(layout.aclFile, options.acl.endsWith("\n") ? options.acl : `${options.acl}\n`);
	}
	layout.config = configText(layout, options);
	await writeReadable(path.join(dir, "mosquitto.conf"), layout.config);
	return layout;
}

// ---------------------------------------------------------------------------------------------
// The broker process

const live = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHandlerInstalled = false;

/** On process exit, SIGKILL brokers nobody stopped and remove their temp dirs. */
function cleanUpOnExit(): void {
	if (exitHandlerInstalled) return;
	exitHandlerInstalled = true;
	process.on("exit", () => {
		for (const child of live) child.kill("SIGKILL");
		for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
	});
}

async function removeDir(dir: string): Promise<void> {
	liveDirs.delete(dir);
	await fs.rm(dir, { recursive: true, force: true });
}

function hasExited(child: ChildProcess): boolean {
	return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
	if (hasExited(child)) return Promise.resolve(true);
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve(false), ms);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve(true);
		});
	});
}

async function terminate(child: ChildProcess): Promise<void> {
	if (!hasExited(child)) {
		child.kill("SIGTERM");
		if (!(await waitExit(child, KILL_AFTER_MS))) {
			child.kill("SIGKILL");
			await waitExit(child, KILL_AFTER_MS);
		}
	}
	live.delete(child);
}

class Broker {
	readonly layout: Layout;
	readonly options: MosquittoOptions;
	child: ChildProcess | undefined;
	output = "";

	constructor(layout: Layout, options: MosquittoOptions) {
		this.layout = layout;
		this.options = options;
	}

	spawn(): void {
		const conf = path.join(this.layout.dir, "mosquitto.conf");
		const files = this.options.openFiles;
		// ulimit -n raises soft and hard together; past the hard limit only root may go, so fall back to the hard limit.
		const child = files === undefined
			? spawn(tool("mosquitto"), ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] })
			: spawn("/bin/sh", ["-c", `ulimit -n ${Math.floor(files)} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" -c "$1"`, tool("mosquitto"), conf], { stdio: ["ignore", "pipe", "pipe"] });
		live.add(child);
		child.once("exit", () => live.delete(child));
		child.stdout?.on("data", (chunk: Buffer) => this.append(chunk));
		child.stderr?.on("data", (chunk: Buffer) => this.append(chunk));
		child.once("error", (error) => this.append(Buffer.from(`spawn error: ${error.message}\n`)));
		this.child = child;
	}

	append(chunk: Buffer): void {
		const text = chunk.toString("utf8");
		this.output += text;
		if (this.options.logToConsole) process.stderr.write(text);
	}

	count(needle: string): number {
		return this.output.split(needle).length - 1;
	}

	async waitReady(runningBefore: number): Promise<void> {
		const deadline = Date.now() + READY_TIMEOUT_MS;
		// Mosquitto opens every listener before it logs "running"; probing only the plain port
		// keeps TLS handshake errors from the probe out of the log.
		while (Date.now() < deadline) {
			const child = this.child;
			if (!child || hasExited(child)) throw this.failure("exited during startup");
			if (this.count(" running") > runningBefore && (await tcpConnects(this.layout.port))) return;
			await sleep(POLL_MS);
		}
		throw this.failure(`not ready after ${READY_TIMEOUT_MS} ms`);
	}

	failure(what: string): Error {
		const code = this.child ? ` (exit ${this.child.exitCode ?? this.child.signalCode ?? "none"})` : "";
		return new Error(`mosquitto ${what}${code}\n--- mosquitto.conf\n${this.layout.config}--- log\n${this.output}`);
	}

	async start(): Promise<void> {
		const before = this.count(" running");
		this.spawn();
		try {
			await this.waitReady(before);
		} catch (error) {
			if (this.child) await terminate(this.child);
			throw error;
		}
	}

	async reload(): Promise<void> {
		const needle = "Reloading config";
		const before = this.count(needle);
		const child = this.child;
		if (!child || hasExited(child)) throw this.failure("is not running");
		child.kill("SIGHUP");
		const deadline = Date.now() + READY_TIMEOUT_MS;
		while (this.count(needle) === before) {
			if (Date.now() > deadline) throw this.failure("did not log a reload after SIGHUP");
			await sleep(POLL_MS / 5);
		}
	}

	async dynsec(args: string[]): Promise<string> {
		const admin = this.options.dynsec;
		if (!admin) throw new Error("dynsec() needs startMosquitto({ dynsec: ... })");
		const connect = ["-h", HOST, "-p", String(this.layout.port), "-u", admin.adminUser, "-P", admin.adminPassword];
		return runCtrl(tool("mosquitto_ctrl"), [...connect, "dynsec", ...args]);
	}

	async stopProcess(): Promise<void> {
		if (this.child) await terminate(this.child);
	}
}

function handle(broker: Broker): Mosquitto {
	const { layout } = broker;
	let stopped = false;
	return {
		host: HOST,
		port: layout.port,
		tlsPort: layout.tlsPort,
		caPem: layout.tlsFiles?.caPem,
		otherCaPem: layout.tlsFiles?.otherCaPem,
		dir: layout.dir,
		log: () => broker.output,
		reload: () => broker.reload(),
		setPassword: async (user, password) => {
			if (!layout.passwordFile) throw new Error("setPassword() needs startMosquitto({ users: ... })");
			await setPasswordIn(layout.passwordFile, user, password);
		},
		dynsec: (...args) => broker.dynsec(args),
		pid: () => (broker.child && !hasExited(broker.child) ? broker.child.pid : undefined),
		restart: async () => {
			await broker.stopProcess();
			await broker.start();
		},
		stop: async () => {
			if (stopped) return;
			stopped = true;
			await broker.stopProcess();
			await removeDir(layout.dir);
		},
	};
}

/** Starts a Mosquitto broker on free loopback ports; stop() it when done. */
export async function startMosquitto(options: MosquittoOptions = {}): Promise<Mosquitto> {
	cleanUpOnExit();
	const layout = await prepare(options);
	const broker = new Broker(layout, options);
	try {
		await broker.start();
	} catch (error) {
		await removeDir(layout.dir);
		throw error;
	}
	return handle(broker);
}

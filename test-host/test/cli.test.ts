/*
 * The simulator's command-line contract, end to end: npm start with an embedded broker.
 */

import test from "ava";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

interface Run {
	code: number | null;
	stdout: string;
	stderr: string;
	ms: number;
}

const ROOT = path.resolve(import.meta.dirname, "../..");

function npmStart(args: string[], timeoutMs = 60_000): Promise<Run> {
	return run("npm", ["start", "--silent", "--", ...args], timeoutMs);
}

/** The simulator without npm in between: what `npx tsx test-host/cli.ts` runs. */
function cli(args: string[], timeoutMs = 60_000, options: { uid?: number; gid?: number } = {}): Promise<Run> {
	return run(path.join(ROOT, "node_modules/.bin/tsx"), ["test-host/cli.ts", ...args], timeoutMs, options);
}

function run(command: string, args: string[], timeoutMs: number, options: { uid?: number; gid?: number } = {}): Promise<Run> {
	const started = Date.now();
	return new Promise((resolve, reject) => {
		const env = { ...process.env, FORCE_COLOR: "0", ...(options.uid !== undefined ? { HOME: os.tmpdir() } : {}) };
		// Its own process group, so a timeout ends tsx's node child too, not only tsx.
		const child = spawn(command, args, { cwd: ROOT, env, detached: true, ...options });
		let stdout = "";
		let stderr = "";
		child.stdout.on("data", (d) => (stdout += d));
		child.stderr.on("data", (d) => (stderr += d));
		const timer = setTimeout(() => {
			process.kill(-child.pid!, "SIGKILL");
			reject(new Error(`${command} ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
		}, timeoutMs);
		child.on("close", (code) => {
			clearTimeout(timer);
			resolve({ code, stdout, stderr, ms: Date.now() - started });
		});
	});
}

function records(stdout: string): Record<string, unknown>[] {
	return stdout.split("\n").filter((l) => l.trim()).map((line) => {
		try {
			return JSON.parse(line) as Record<string, unknown>;
		}
		catch {
			throw new Error(`not a JSON line: ${line}`);
		}
	});
}

test("npm start -- --duration 8 --log json: the boot sequence, telemetry at the backend, a command obeyed", async (t) => {
	const run = await npmStart(["--duration", "8", "--log", "json", "--telemetry-interval", "2"]);
	t.is(run.code, 0, run.stderr);
	const lines = records(run.stdout);
	const synced = lines.findIndex((r) => r.event === "time.synced");
	t.true(synced > 0);
	for (const [i, r] of lines.entries()) {
		// The device's own records have no wall time before SNTP; the simulator's (sim.*, backend.*) always do.
		const device = !/^(sim|backend)\./.test(String(r.event));
		if (device && i < synced) t.is(r.ts, null, `${String(r.event)} before time.synced: ts null`);
		else t.regex(String(r.ts), /^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, String(r.event));
		t.is(typeof r.uptimeMs, "number");
		t.true(["info", "warn", "error"].includes(String(r.level)));
		t.regex(String(r.event), /^[a-z_]+\.[a-z_]+$/);
	}
	const names = lines.map((r) => String(r.event));
	const order = ["wifi.connected", "time.synced", "jwt.minted", "mqtt.connecting", "mqtt.connected", "mqtt.subscribed", "telemetry.published", "heartbeat.published", "command.received", "led.pattern"];
	for (const name of order) t.true(names.includes(name), `emits ${name}`);
	const first = (name: string) => names.indexOf(name);
	t.true(first("wifi.connected") < first("time.synced") && first("time.synced") < first("jwt.minted") && first("jwt.minted") < first("mqtt.connecting") && first("mqtt.connecting") < first("mqtt.connected") && first("mqtt.connected") < first("telemetry.published"));
	const connected = lines.find((r) => r.event === "wifi.connected")!;
	t.regex(String(connected.ip), /^\d+\.\d+\.\d+\.\d+$/);
	const minted = lines.find((r) => r.event === "jwt.minted")!;
	t.true(String(minted.preview).length <= 23, "never the whole token");
	t.notRegex(run.stdout, /eyJ[\w-]+\.eyJ[\w-]+/, "the token's claims and signature are never printed");
	const connecting = lines.find((r) => r.event === "mqtt.connecting")!;
	t.like(connecting, { host: "127.0.0.1", clientId: "sensor_8EA40C", attempt: 1 });
	t.is(typeof connecting.port, "number");
	t.is(lines.find((r) => r.event === "mqtt.connected")!.sessionPresent, false);
	const telemetry = lines.filter((r) => r.event === "telemetry.published");
	t.true(telemetry.length >= 3, `${telemetry.length} telemetry messages in 8 s at 2 s`);
	t.like(telemetry[0], { topic: "smarthome/home1/sensor_8EA40C/telemetry", seq: 1 });
	t.is(typeof telemetry[0].bytes, "number");
	const arrived = lines.filter((r) => r.event === "backend.received" && String(r.topic).endsWith("/telemetry"));
	t.true(arrived.length >= 3, "the backend received the telemetry");
	const firstTelemetryAt = Date.parse(String(arrived[0].ts));
	const startedAt = Date.parse(String(lines[0].ts));
	t.true(firstTelemetryAt - startedAt < 10_000, "telemetry reaches the broker within 10 s of start");
	const reading = JSON.parse(String(arrived[0].payload));
	t.is(typeof reading.sensors.temperature, "number");
	t.like(lines.find((r) => r.event === "command.received"), { type: "SET_POWER" });
	t.true(lines.some((r) => r.event === "backend.received" && String(r.topic).endsWith("/responses") && String(r.payload).includes("\"status\":\"ok\"")));
	t.deepEqual(lines.filter((r) => r.event === "led.pattern").map((r) => r.pattern).slice(0, 3), ["fast", "slow", "on"]);
	t.true(lines.some((r) => r.event === "mqtt.subscribed" && r.qos === 1));
	t.true(lines.some((r) => r.event === "backend.received" && String(r.topic).endsWith("/status") && String(r.payload).includes("\"online\":false")), "clean shutdown says offline");
	t.false(lines.some((r) => r.level === "error"), "no errors in a normal run");
});

test("npm start (human log): the serial-monitor lines", async (t) => {
	const run = await npmStart(["--duration", "4", "--telemetry-interval", "2"]);
	t.is(run.code, 0, run.stderr);
	for (const line of ["✅ WiFi connected! IP: ", "✅ Time synchronized!", "✅ JWT generated: eyJhbGciOiJIUzI1NiIs", "✅ MQTT connected!", "✅ Subscribed to: smarthome/home1/sensor_8EA40C/commands", "✅ Temperature: "]) {
		t.true(run.stdout.includes(line), `shows "${line}"`);
	}
	t.notRegex(run.stdout, /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/, "no whole JWT anywhere");
});

test("--config FILE uses the device schema; flags override it; a bad file is refused naming the setting", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-"));
	const config = path.join(dir, "config.json");
	fs.writeFileSync(config, JSON.stringify({ topics: { scheme: "tenant" }, device: { tenantId: "acme" }, telemetry: { interval: 60 } }));
	const run = await npmStart(["--duration", "4", "--log", "json", "--config", config, "--telemetry-interval", "2"]);
	t.is(run.code, 0, run.stderr);
	const published = records(run.stdout).filter((r) => r.event === "telemetry.published");
	t.true(published.length >= 2, "the flag's 2 s interval wins over the file's 60 s");
	t.is(published[0].topic, "tenant/acme/device/sensor_8EA40C/telemetry");
	fs.writeFileSync(config, JSON.stringify({ mqtt: { keepAlive: "long" } }));
	const bad = await npmStart(["--config", config], 20_000);
	t.is(bad.code, 2);
	t.regex(bad.stderr, /mqtt.keepAlive: must be an integer/);
});

test("unknown flags and bad values: one line naming the problem, exit 2", async (t) => {
	for (const [args, pattern] of [
		[["--frobnicate"], /unknown option --frobnicate/],
		[["--telemetry-interval", "soon"], /--telemetry-interval must be a positive whole number/],
		[["--auth", "kerberos"], /--auth must be one of jwt, password, none/],
		[["--device-mac", "12:34"], /--device-mac must look like/],
		[["--log"], /--log needs a value/],
		[["--broker", "http://x"], /--broker must be mqtt:\/\/host:port/],
		[["--broker", "mqtt://127.0.0.1:99999"], /--broker: port 99999 is out of range \(1 to 65535\)/],
		[["--broker", "mqtt://127.0.0.1:0"], /--broker: port 0 is out of range/],
		[["--config", "/nonexistent.json"], /--config: file "\/nonexistent.json" not found/],
		[["--jwt-refresh", "7200"], /--jwt-refresh: must be shorter than auth.jwtTtl/],
	] as [string[], RegExp][]) {
		const run = await npmStart(args, 20_000);
		t.is(run.code, 2, `${args.join(" ")} exits 2`);
		t.regex(run.stderr, pattern);
		t.is(run.stderr.trim().split("\n").length, 1, "one line");
	}
});

test("--help prints the flags and exits 0", async (t) => {
	const run = await npmStart(["--help"], 20_000);
	t.is(run.code, 0);
	for (const flag of ["--broker", "--auth", "--jwt-secret", "--jwt-ttl", "--jwt-refresh", "--device-mac", "--duration", "--log", "--config", "--data-dir"]) t.true(run.stdout.includes(flag));
});

test("--data-dir keeps preferences across runs (boot counter, power state)", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-data-"));
	const first = await npmStart(["--duration", "5", "--log", "json", "--data-dir", dir]);
	t.is(first.code, 0, first.stderr);
	const second = await npmStart(["--duration", "2", "--log", "json", "--data-dir", dir]);
	t.is(second.code, 0, second.stderr);
	const boot = records(second.stdout).find((r) => r.event === "device.boot")!;
	t.is(boot.boots, 2);
	const prefs = JSON.parse(fs.readFileSync(path.join(dir, "preferences.json"), "utf8"));
	t.deepEqual(JSON.parse(prefs.power), { on: true, brightness: 80 }, "the demo SET_POWER was persisted");
});

test("--log json through tsx directly (or npm start --silent): stdout is JSON lines and nothing else", async (t) => {
	const run = await cli(["--duration", "3", "--log", "json", "--telemetry-interval", "1"]);
	t.is(run.code, 0, run.stderr);
	const lines = run.stdout.split("\n");
	t.is(lines.pop(), "", "ends with a newline");
	t.true(lines.length > 20);
	for (const line of lines) {
		let value: unknown;
		t.notThrows(() => (value = JSON.parse(line)), `not JSON: ${line}`);
		const r = value as Record<string, unknown>;
		t.true(typeof r === "object" && r !== null && typeof r.event === "string" && "ts" in r && typeof r.uptimeMs === "number", line);
	}
	t.false(run.stdout.includes("1970-"), "no 1970 timestamps before the clock is set");
	const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
	t.true(readme.includes("npm start --silent -- --log json"), "README says how to get pure JSON from npm");
});

test("--data-dir is checked before anything starts: one line, exit 2", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-dir-"));
	const file = path.join(dir, "a-file");
	fs.writeFileSync(file, "x");
	for (const [arg, pattern] of [
		[file, /--data-dir .*a-file: not a directory/],
		[path.join(file, "sub"), /--data-dir .*a-file\/sub: cannot create the directory \(ENOTDIR/],
		["/proc/sensor-data", /--data-dir \/proc\/sensor-data: \/proc\/sensor-data is under \/proc, a kernel file system/],
		["/proc/self/sensor", /is under \/proc, a kernel file system/],
		["/sys/sensor-data", /is under \/sys, a kernel file system/],
	] as [string, RegExp][]) {
		const run = await cli(["--data-dir", arg], 20_000);
		t.is(run.code, 2, `${arg}: ${run.stderr}`);
		t.regex(run.stderr, pattern);
		t.is(run.stderr.trim().split("\n").length, 1, "one line");
		t.is(run.stdout, "", "nothing started: no broker, no device");
	}
});

test("--data-dir that cannot be written: one line, exit 2", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sim-ro-"));
	fs.chmodSync(dir, 0o555);
	t.teardown(() => fs.chmodSync(dir, 0o755));
	// root writes anywhere: run the simulator as nobody then.
	const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
	const run = await cli(["--data-dir", dir], 20_000, asNobody);
	t.is(run.code, 2, run.stderr);
	t.regex(run.stderr, /^error: --data-dir .*: cannot write there \(EACCES: permission denied\)\n$/);
	t.is(run.stdout, "");
});

test("--data-dir that does not exist yet is created, and the write check leaves nothing behind", async (t) => {
	const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sim-new-")), "a", "b");
	const run = await cli(["--data-dir", dir, "--duration", "1", "--log", "json"]);
	t.is(run.code, 0, run.stderr);
	t.deepEqual(fs.readdirSync(dir), ["preferences.json"]);
});

/*
 * The fleet tool (test-host/fleet/): small fleets over real TCP against the embedded broker
 * (aedes) and Debian's Mosquitto. Every device connects with its own client id and credentials,
 * telemetry reaches a backend, a drop-all fault makes every device reconnect at times spread by
 * its backoff jitter (never before the backoff floor), a broker restart is survived, and the
 * summary counts what happened. The flag parser refuses bad input with a clear error. No timing
 * is asserted beyond the backoff floor: the figures are printed, not judged.
 */

import test from "ava";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import mqtt from "mqtt";
import { requireMosquitto } from "../brokers/mosquitto";
import { Fleet, fleetMac } from "../fleet/fleet";
import { parseFleetArgs, parseTime, UsageError, type FleetOptions } from "../fleet/options";
import { Framer } from "../fleet/wire";

const ROOT = path.resolve(import.meta.dirname, "../..");
const OBSERVER = { username: "observer", password: "observer-pass" };
const WAIT_MS = 60_000;
/** A fast backoff, so a reconnect storm takes seconds: floor 2 s, jitter up to +25 %. */
const BACKOFF_MIN_S = 2;

function configFile(): string {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fleet-test-"));
	const file = path.join(dir, "config.json");
	fs.writeFileSync(file, JSON.stringify({ mqtt: { backoffMin: BACKOFF_MIN_S, backoffMax: 10 } }));
	return file;
}

function options(args: string[]): FleetOptions {
	const o = parseFleetArgs(args);
	if (o === "help") throw new Error("unexpected help");
	return o;
}

async function until(what: string, done: () => boolean, ms = WAIT_MS): Promise<void> {
	const deadline = Date.now() + ms;
	while (!done()) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** A backend on the fleet's broker that records who published telemetry and status. */
async function observe(url: string) {
	const client = await mqtt.connectAsync(url, { ...OBSERVER, clientId: "fleet-observer", reconnectPeriod: 0, protocolVersion: 4 });
	const telemetryFrom = new Set<string>();
	const onlineFrom = new Set<string>();
	client.on("message", (topic, payload) => {
		const parts = topic.split("/");
		if (topic.endsWith("/telemetry")) telemetryFrom.add(parts[2]);
		if (topic.endsWith("/status") && payload.toString().includes("\"online\":true")) onlineFrom.add(parts[2]);
	});
	await client.subscribeAsync("smarthome/#", { qos: 1 });
	return { client, telemetryFrom, onlineFrom };
}

async function smallFleet(t: import("ava").ExecutionContext, brokerArgs: string[], devices: number): Promise<void> {
	const o = options(["--devices", String(devices), "--ramp", "100", "--config", configFile(), ...brokerArgs]);
	const fleet = await Fleet.create(o, { serviceUsers: { [OBSERVER.username]: OBSERVER.password } });
	const backend = await observe(fleet.brokerUrl);
	try {
		await fleet.start();
		await until("every device connected", () => fleet.stats.states.connected === devices);
		await until("telemetry from every device", () => backend.telemetryFrom.size === devices);

		// Distinct identities: as many client ids on the wire as devices, none taken over.
		t.is(backend.onlineFrom.size, devices);
		t.is(new Set(backend.telemetryFrom).size, devices);
		t.true([...backend.telemetryFrom].every((id) => /^sensor_[0-9A-F]{6}$/.test(id)));
		t.is(fleet.stats.unplannedDisconnects, 0);

		const fault = await fleet.fault("drop-all");
		t.is(fault.affected, devices);
		await until("every device reconnected", () => fault.reconnect.count === devices && fleet.stats.states.connected === devices);
		const r = fault.reconnect.summary();
		t.log(`${brokerArgs.join(" ") || "aedes"}: drop-all, ${devices} devices reconnected after ${r.min} .. ${r.max} ms (p50 ${r.p50}); per second ${fault.perSecond.join(",")}`);
		// Not before the backoff floor, and spread by the jitter rather than all at one instant.
		t.true(r.min! >= BACKOFF_MIN_S * 1000 - 5, `first reconnect after ${r.min} ms`);
		t.true(r.max! - r.min! > 100, `reconnects spread over ${r.max! - r.min!} ms`);

		const summary = fleet.summary();
		t.is(summary.devices, devices);
		t.is(summary.booted, devices);
		t.is(summary.connected.everConnected, devices);
		t.is(summary.connected.now, devices);
		t.is(summary.disconnects.unplanned, devices);
		t.is(summary.disconnects.outageMs.count, devices, "each device's time offline");
		t.true(summary.disconnects.outageMs.min! >= BACKOFF_MIN_S * 1000 - 5);
		t.is(summary.failures.connection_reset, devices);
		t.is(summary.faults.length, 1);
		t.is(summary.faults[0].reconnected, devices);
		t.is(summary.faults[0].reconnectsPerSecond.reduce((a, b) => a + b, 0), devices);
		t.true(summary.messages.telemetry >= devices);
		t.true(summary.messages.acked >= devices, "QoS 1 telemetry and status acknowledged");
		t.is(summary.pubackLatencyMs.count, summary.messages.acked);
		t.true(summary.connected.connectTimeMs.count === devices);
	}
	finally {
		await backend.client.endAsync(true);
		await fleet.stop();
	}
}

test.serial("a fleet of 30 against the embedded broker: distinct ids, telemetry, drop-all storm spread by jitter, summary counts", async (t) => {
	await smallFleet(t, [], 30);
});

test.serial("a fleet of 30 against Mosquitto, one password per device: distinct ids, telemetry, drop-all storm, summary counts", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	await smallFleet(t, ["--mosquitto"], 30);
});

test.serial("Mosquitto restart: every device comes back, counted under the fault", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass();
	const devices = 20;
	const fleet = await Fleet.create(options(["--devices", String(devices), "--ramp", "200", "--mosquitto", "--config", configFile()]));
	try {
		await fleet.start();
		await until("every device connected", () => fleet.stats.states.connected === devices);
		const fault = await fleet.fault("restart-broker");
		t.is(fault.affected, devices);
		await until("every device reconnected", () => fault.reconnect.count === devices && fleet.stats.states.connected === devices);
		const summary = fleet.summary();
		t.is(summary.disconnects.unplanned, devices);
		t.is(summary.faults[0].kind, "restart-broker");
		t.is(summary.faults[0].reconnected, devices);
		t.true(summary.broker.openFiles!.soft >= devices, `the broker may open ${summary.broker.openFiles?.soft} files`);
	}
	finally {
		await fleet.stop();
	}
});

test("the command line: a small fleet with a planned fault writes its summary as JSON on stdout", async (t) => {
	// As `npm run fleet` runs it: the launcher bundles the tool and runs the bundle in a child.
	const args = ["--import", "tsx", "test-host/fleet/launch.ts", "--devices", "5", "--ramp", "50", "--duration", "6", "--fault", "drop-all@3s", "--config", configFile()];
	const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
	let stdout = "";
	let stderr = "";
	child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
	child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
	const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
	t.is(code, 0, stderr);
	const summary = JSON.parse(stdout);
	t.is(summary.devices, 5);
	t.is(summary.connected.everConnected, 5);
	t.is(summary.faults[0].kind, "drop-all");
	t.is(summary.faults[0].affected, 5);
	t.is(summary.faults[0].reconnected, 5);
	t.true(summary.memory.afterRamp.devices === 5);
	// The status lines went to stderr (stdout is the JSON alone), plain lines since it is not a terminal.
	t.regex(stderr, /booted 5\/5 \| connected 5/);
	t.regex(stderr, /drop-all at 3\.\d s: 5 connected devices hit/);
});

test("the command line takes commands on stdin: drop-all, status, quit", async (t) => {
	const args = ["--import", "tsx", "test-host/fleet/launch.ts", "--devices", "5", "--ramp", "50", "--config", configFile()];
	const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
	let stdout = "";
	let stderr = "";
	child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
	child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
	const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
	try {
		await until("all five connected", () => /connected 5 \|/.test(stderr));
		child.stdin.write("drop-all\n");
		await until("the fault", () => /drop-all at [\d.]+ s: 5 connected devices hit/.test(stderr));
		const after = stderr.length;
		await until("all five back", () => /connected 5 \| connecting 0 \| reconnecting 0/.test(stderr.slice(after)));
		child.stdin.write("bogus\nstatus\nquit\n");
		t.is(await exited, 0, stderr);
	}
	finally {
		// The launcher passes SIGTERM on to the fleet, which stops cleanly (no-op once it has exited).
		child.kill("SIGTERM");
	}
	t.regex(stderr, /unknown command "bogus"/);
	const summary = JSON.parse(stdout);
	t.is(summary.faults.length, 1);
	t.is(summary.faults[0].reconnected, 5);
	t.is(summary.failures.connection_reset, 5);
});

test("the flag parser refuses bad input with a clear error", (t) => {
	const refuse = (args: string[], message: RegExp) => {
		const e = t.throws(() => parseFleetArgs(args), { instanceOf: UsageError });
		t.regex(e!.message, message);
	};
	refuse([], /--devices N is required/);
	refuse(["--devices", "0"], /--devices must be a whole number from 1 to 100000, not "0"/);
	refuse(["--devices", "ten"], /not "ten"/);
	refuse(["--devices"], /--devices needs a value/);
	refuse(["--devices", "--mosquitto"], /--devices needs a value/);
	refuse(["--devices", "5", "--ramp", "-3"], /--ramp must be a whole number/);
	refuse(["--devices", "5", "--fault", "explode@5s"], /unknown fault "explode"/);
	refuse(["--devices", "5", "--fault", "drop-all"], /say when, e.g. --fault drop-all@60s/);
	refuse(["--devices", "5", "--fault", "drop-all@soon"], /like 90s, 2m or 1500ms, not "soon"/);
	refuse(["--devices", "5", "--jitter", "80"], /--jitter must be a percentage from 0 to 50/);
	refuse(["--devices", "5", "--mosquitto", "--broker", "mqtt://127.0.0.1:1883"], /exclude each other/);
	refuse(["--devices", "5", "--mosquitto", "--auth", "jwt"], /Mosquitto does not verify JWTs/);
	refuse(["--devices", "5", "--broker", "mqtt://example.com:1883", "--fault", "restart-broker@10s"], /only a broker it started/);
	refuse(["--devices", "5", "--target", "linux"], /--target is not a fleet option/);
	refuse(["--devices", "5", "--frobnicate"], /unknown option --frobnicate/);
	// The device flags go through npm start's own checks.
	refuse(["--devices", "5", "--broker", "http://x"], /--broker must be mqtt:\/\/host:port/);
	refuse(["--devices", "5", "--telemetry-interval", "0"], /--telemetry-interval must be a positive whole number/);
	refuse(["--devices", "5", "--mosquitto", "--quiet=yes"], /--quiet takes no value/);
	t.is(parseFleetArgs(["--help"]), "help");
	const o = options(["--devices=7", "--ramp", "20", "--fault", "restart-broker@2m", "--fault", "drop-all@1500ms", "--mosquitto", "--telemetry-interval", "15"]);
	t.like(o, { devices: 7, ramp: 20, broker: "mosquitto", jitter: 10, authGiven: false });
	t.deepEqual(o.faults, [{ kind: "drop-all", atMs: 1500 }, { kind: "restart-broker", atMs: 120_000 }]);
	t.is(o.config.telemetry.interval, 15);
	t.is(parseTime("1.5m"), 90_000);
});

test("device MACs count up from the base and must fit in the last three bytes", (t) => {
	t.is(fleetMac("24:6F:28:00:00:00", 0), "24:6F:28:00:00:00");
	t.is(fleetMac("24:6F:28:00:00:FF", 1), "24:6F:28:00:01:00");
	t.is(fleetMac("24:6f:28:00:00:00", 9999), "24:6F:28:00:27:0F");
	t.throws(() => fleetMac("24:6F:28:FF:FF:FF", 1), { instanceOf: RangeError, message: /do not fit/ });
});

test("the wire framer finds PUBLISH packet ids and PUBACKs across chunk boundaries", (t) => {
	const seen: string[] = [];
	const framer = new Framer((type) => (type === 3 ? 256 : type === 4 ? 2 : 0), (type, flags, body) => {
		if (type === 3) {
			const at = 2 + ((body[0] << 8) | body[1]);
			seen.push(`publish q${(flags >> 1) & 3} id ${(body[at] << 8) | body[at + 1]}`);
		}
		else if (type === 4) seen.push(`puback ${(body[0] << 8) | body[1]}`);
		else seen.push(`type ${type}`);
	});
	const topic = [...Buffer.from("a/b")];
	const publish = [0x32, 2 + topic.length + 2 + 200, 0, topic.length, ...topic, 0x01, 0x02, ...new Array(200).fill(7)];
	// remaining length 207 needs two bytes: 0xCF 0x01
	publish.splice(1, 1, 0xcf, 0x01);
	const bytes = Uint8Array.from([0x40, 2, 0, 9, ...publish, 0xc0, 0, 0x40, 2, 1, 2]);
	for (const size of [1, 3, 7, bytes.length]) {
		seen.length = 0;
		for (let i = 0; i < bytes.length; i += size) framer.push(bytes.subarray(i, i + size));
		t.deepEqual(seen, ["puback 9", "publish q1 id 258", "type 12", "puback 258"], `chunks of ${size}`);
	}
});

/*
 * The operator's side against simulated devices: `publish` on the fleet topic updating 20
 * devices (the tool's function in-process, over real TCP to the embedded broker), and the CLI as
 * a child process (keygen, sign, publish serving the image itself over real HTTP on 127.0.0.1).
 */

import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { FIRMWARE_NAME } from "../../src/version";
import { makeSimImage } from "../ota/image";
import { publishUpdate, type PublishSummary } from "../ota/publish";
import { BOARD, OtaWorld } from "./helpers/ota";

const OPERATOR = { username: "operator", password: "operator-pass" };

test("publish on the fleet topic updates 20 simulated devices and sums up", async (t) => {
	const ow = await OtaWorld.create({ serviceUsers: { [OPERATOR.username]: OPERATOR.password } });
	try {
		const devices = Array.from({ length: 20 }, () => ow.addDevice());
		t.true(await ow.world.runUntil(() => devices.every((d) => d.sim.device.supervisor.state === "ONLINE"), 120_000));
		await ow.world.run(1_000);
		const port = await ow.world.broker.listen();
		const { manifest } = ow.release("0.2.0");
		const lines: string[] = [];
		let summary: PublishSummary | undefined;
		const running = publishUpdate({ manifest, broker: `mqtt://127.0.0.1:${port}`, ...OPERATOR, scheme: "tenant", tenantId: "acme", target: { fleet: true, expect: 20 }, timeoutMs: 120_000, out: (line) => lines.push(line) })
			.then((s) => (summary = s));
		const deadline = Date.now() + 150_000;
		while (!summary && Date.now() < deadline) {
			await ow.world.run(1_000);
			await new Promise((resolve) => setTimeout(resolve, 5));
		}
		await running;
		t.truthy(summary);
		t.like(summary, { topic: "global/firmware/latest", succeeded: 20, failed: 0, rolledBack: 0, unfinished: 0, ok: true });
		t.true(devices.every((d) => d.flash.boots.at(-1)?.header.version === "0.2.0" && d.flash.active.state === "valid"));
		t.true(lines.some((l) => l.startsWith("[##############################] 20/20")), lines.slice(-3).join("\n"));
		t.regex(lines.at(-1)!, /summary: 20 succeeded, 0 failed, 0 rolled back, 0 unfinished/);
		// The manifest stays retained: each device reads it again after its restart and, up to date, leaves it.
		t.true(devices.every((d) => d.events("ota.up_to_date").length >= 1));
	}
	finally {
		await ow.close();
	}
});

function run(args: string[]): Promise<{ code: number; stderr: string }> {
	return new Promise((resolve) => {
		execFile(process.execPath, ["--import=tsx", "test-host/ota/cli.ts", ...args], { timeout: 60_000 }, (error, _stdout, stderr) => {
			resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stderr });
		});
	});
}

test("npm run ota: keygen and sign write a key and a manifest the device accepts; bad usage exits 2", async (t) => {
	const dir = mkdtempSync(join(tmpdir(), "ota-cli-"));
	const keygen = await run(["keygen", "--out", join(dir, "keys")]);
	t.is(keygen.code, 0, keygen.stderr);
	t.regex(keygen.stderr, /ota_public_key=04[0-9a-f]{128}/);
	t.is((await run(["keygen", "--out", join(dir, "keys")])).code, 2, "never overwrites a key");
	writeFileSync(join(dir, "fw.bin"), makeSimImage({ name: FIRMWARE_NAME, version: "0.2.0", board: BOARD }));
	const signed = await run(["sign", "--key", join(dir, "keys", "ota-signing-key.pem"), "--image", join(dir, "fw.bin"), "--url", "http://images.local/fw.bin"]);
	t.is(signed.code, 0, signed.stderr);
	const manifest = JSON.parse(readFileSync(join(dir, "fw.bin.manifest.json"), "utf8"));
	t.like(manifest, { name: FIRMWARE_NAME, version: "0.2.0", board: BOARD, size: 96 * 1024, url: "http://images.local/fw.bin" });
	const bad = await run(["publish", "--manifest", join(dir, "fw.bin.manifest.json"), "--broker", "mqtt://127.0.0.1:1"]);
	t.is(bad.code, 2);
	t.regex(bad.stderr, /--device or --fleet is required/);

	// The device built with that public key installs it.
	const publicKey = readFileSync(join(dir, "keys", "ota-public-key.txt"), "utf8").trim();
	const ow = await OtaWorld.create();
	try {
		const d = ow.addDevice({ publicKey });
		t.true(await ow.online(d));
		ow.server.add("/fw.bin", readFileSync(join(dir, "fw.bin")));
		await ow.announce(d, manifest);
		t.true(await ow.world.runUntil(() => ow.states(d).includes("succeeded"), 10 * 60_000), ow.states(d).join(","));
	}
	finally {
		await ow.close();
	}
});

test("npm run ota -- publish as a child process serves the image over HTTP on 127.0.0.1 and exits 0 when the device succeeded", async (t) => {
	const dir = mkdtempSync(join(tmpdir(), "ota-pub-"));
	t.is((await run(["keygen", "--out", join(dir, "keys")])).code, 0);
	writeFileSync(join(dir, "fw.bin"), makeSimImage({ name: FIRMWARE_NAME, version: "0.2.0", board: BOARD }));
	t.is((await run(["sign", "--key", join(dir, "keys", "ota-signing-key.pem"), "--image", join(dir, "fw.bin")])).code, 0);
	const publicKey = readFileSync(join(dir, "keys", "ota-public-key.txt"), "utf8").trim();
	const ow = await OtaWorld.create({ serviceUsers: { [OPERATOR.username]: OPERATOR.password } });
	try {
		const d = ow.addDevice({ publicKey });
		t.true(await ow.online(d));
		const brokerPort = await ow.world.broker.listen();
		const httpPort = await freePort();
		// The simulated network reaches the tool's real HTTP server on 127.0.0.1.
		ow.world.network.listen("127.0.0.1", httpPort, (stream) => {
			const socket = net.connect(httpPort, "127.0.0.1");
			stream.pipe(socket).pipe(stream);
			socket.on("error", () => stream.destroy());
			stream.on("error", () => socket.destroy());
		});
		const child = spawn(process.execPath, ["--import=tsx", "test-host/ota/cli.ts", "publish", "--manifest", join(dir, "fw.bin.manifest.json"), "--image", join(dir, "fw.bin"), "--http-port", String(httpPort), "--advertise", "127.0.0.1",
			"--broker", `mqtt://127.0.0.1:${brokerPort}`, "--username", OPERATOR.username, "--password", OPERATOR.password, "--tenant-id", "acme", "--device", d.sim.device.clientId, "--timeout", "120"], { stdio: ["ignore", "ignore", "pipe"] });
		let stderr = "";
		child.stderr.on("data", (chunk) => (stderr += chunk));
		let code: number | null | undefined;
		child.on("exit", (c) => (code = c));
		const deadline = Date.now() + 150_000;
		while (code === undefined && Date.now() < deadline) {
			await ow.world.run(1_000);
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		t.is(code, 0, stderr);
		t.regex(stderr, /serving .*fw\.bin at http:\/\/127\.0\.0\.1:\d+\/fw\.bin/);
		t.regex(stderr, /summary: 1 succeeded, 0 failed/);
		t.is(d.flash.boots.at(-1)?.header.version, "0.2.0");
	}
	finally {
		await ow.close();
	}
});

function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.listen(0, "127.0.0.1", () => {
			const port = (server.address() as net.AddressInfo).port;
			server.close(() => resolve(port));
		});
		server.on("error", reject);
	});
}

/*
 * The update flow on the Linux XS target (the firmware built with mcconfig -p x-cli-lin, run as a
 * process the runner restarts on exit code 75): Mosquitto, the image server on 127.0.0.1 with one
 * cut connection, `publish` to the device, the download through the SDK's sockets into the file
 * flash, the SHA-256 and ECDSA verification in XS with crypt, the restart into the new slot, the
 * confirmation, and the summary.
 *
 * Needs $MODDABLE (the SDK with its Linux tools) and Debian's mosquitto; skipped loudly otherwise.
 * Run alone under `flock /tmp/xs-linux.lock` when other checkouts build the Linux target.
 */

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { FIRMWARE_NAME } from "../../src/version";
import { requireMosquitto, startMosquitto } from "../brokers/mosquitto";
import { ROOT, LinuxDevice, buildLinuxTarget, startLocalSntp } from "../linux-target";
import { generateSigningKey, signManifest } from "../ota/crypto";
import { makeSimImage } from "../ota/image";
import { publishUpdate } from "../ota/publish";
import { ImageServer } from "../ota/server";

const reason = "the Linux OTA flow needs MODDABLE (the Moddable SDK with its Linux tools)";
const runs = !!process.env.MODDABLE;
if (!runs) console.warn(`\nOTA LINUX TARGET TEST SKIPPED: ${reason}.\n`);
const linuxTest = runs ? test.serial : test.skip;

linuxTest("Linux XS target: a signed update over HTTP with one cut resumes, boots the new slot, confirms itself and reports succeeded", async (t) => {
	if (!(await requireMosquitto(t))) return;
	t.timeout(30 * 60_000);
	const build = buildLinuxTarget(path.join(ROOT, "build/ota-linux"));
	t.true(build.ok, build.output.split("\n").slice(-30).join("\n"));
	if (!build.ok) return;

	const keys = generateSigningKey();
	const clientId = "sensor_07A000";
	const operator = { username: "operator", password: "operator-secret" };
	const broker = await startMosquitto({ users: { [clientId]: "device-secret", [operator.username]: operator.password } });
	const sntp = await startLocalSntp();
	const server = new ImageServer();
	const base = await server.listen();
	const lines: string[] = [];
	const device = new LinuxDevice({
		binary: build.binary,
		config: {
			device: {
				wifi: { ssid: "ota", password: "ota" },
				mqtt: { url: `mqtt://127.0.0.1:${broker.port}`, keepAlive: 20 },
				auth: { mode: "password", username: clientId, password: "device-secret" },
				device: { homeId: "ota" },
				telemetry: { interval: 5, heartbeat: 60 },
				time: { servers: ["127.0.0.1"], wait: sntp ? 30 : 1 },
			},
			sensor: "dht22",
			ota_public_key: keys.publicHex,
			ota_board: "linux",
			ota_confirm_seconds: 5,
			file: { root: `${fs.mkdtempSync(path.join(os.tmpdir(), "ota-linux-"))}/` },
			linux: { mac: "02:00:00:07:A0:00", ip: "127.0.0.1", ssid: "", password: "", joinMs: 200, rssi: -55, memorySampleMs: 0 },
		},
		onLine: (line) => lines.push(line),
	});
	try {
		device.start();
		const until = async (what: string, ms: number, done: () => boolean) => {
			const end = Date.now() + ms;
			while (!done()) {
				if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${lines.slice(-40).join("\n")}`);
				await new Promise((resolve) => setTimeout(resolve, 100));
			}
		};
		await until("MQTT connected", 60_000, () => lines.some((l) => l.includes("MQTT connected")));
		const image = makeSimImage({ name: FIRMWARE_NAME, version: "9.1.0", board: "linux" }, 80 * 1024);
		server.add("/fw.bin", image);
		server.faults.cut = { afterBytes: 30_000, times: 1 };
		const manifest = signManifest({ image, name: FIRMWARE_NAME, version: "9.1.0", board: "linux", url: `${base}/fw.bin` }, keys.privatePem);
		const out: string[] = [];
		const summary = await publishUpdate({ manifest, broker: `mqtt://127.0.0.1:${broker.port}`, ...operator, scheme: "smarthome", homeId: "ota", target: { device: clientId }, timeoutMs: 240_000, out: (l) => out.push(l) });
		t.like(summary, { succeeded: 1, failed: 0, rolledBack: 0, ok: true }, `${out.join("\n")}\n${lines.slice(-60).join("\n")}`);
		t.deepEqual(server.requests.map((r) => [r.range, r.status]), [[undefined, 200], ["bytes=30000-", 206]]);
		t.is(device.boots, 2, "restarted once, into the new slot");
		t.true(lines.some((l) => /Booting esp32-sensor 9\.1\.0/.test(l)), "the new slot's version");
		t.true(lines.some((l) => /booting slot 1 \(pending_verify\)/.test(l)));
	}
	finally {
		await device.stop();
		await server.close();
		sntp?.close();
		await broker.stop();
	}
});

/*
 * The runner of the Linux target (test-host/linux-target.ts), without the SDK: a stand-in program
 * plays the firmware, so what the runner promises holds in CI too. The firmware's restart (exit 75)
 * starts it again, like the board's reset; any other exit ends it; a death by signal is said; a stop
 * is SIGINT and waits for the goodbye; the build configuration reaches it in SENSOR_CONFIG. And the
 * SNTP server the firmware's real SNTP client asks (127.0.0.1:123) answers as RFC 4330 says.
 */

import test from "ava";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LinuxDevice, REBOOT_EXIT_CODE, startLocalSntp } from "../linux-target";

/** A stand-in firmware: a shell script counting its boots in `dir`. */
function program(dir: string, body: string): string {
	const file = path.join(dir, "firmware.sh");
	fs.writeFileSync(file, `#!/bin/sh\nboots=$(cat "${dir}/boots" 2>/dev/null || echo 0)\nboots=$((boots + 1))\necho $boots > "${dir}/boots"\n${body}\n`, { mode: 0o755 });
	return file;
}

function collect(binary: string, config: Record<string, unknown> = {}) {
	const lines: string[] = [];
	const exits: { code: number | null; rebooting: boolean; signal: string | null }[] = [];
	const device = new LinuxDevice({
		binary,
		config,
		onLine: (line) => lines.push(line),
		onExit: (code, rebooting, signal) => exits.push({ code, rebooting, signal }),
	});
	return { device, lines, exits };
}

test("exit 75 is the firmware's restart: started again on the same files; another exit ends it", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "linux-target-"));
	try {
		const binary = program(dir, `echo "boot $boots $SENSOR_CONFIG"\n[ "$boots" -lt 3 ] && exit ${REBOOT_EXIT_CODE}\nexit 4`);
		const { device, lines, exits } = collect(binary, { broker: "mqtt://127.0.0.1:1" });
		device.start();
		t.is(await device.exited, 4);
		t.is(device.boots, 3);
		t.deepEqual(lines, [1, 2, 3].map((n) => `boot ${n} {"broker":"mqtt://127.0.0.1:1"}`));
		t.deepEqual(exits.map((e) => [e.code, e.rebooting]), [[75, true], [75, true], [4, false]]);
	}
	finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test("stop() is SIGINT: the firmware says goodbye and its exit code comes back; no restart after it", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "linux-target-"));
	try {
		const binary = program(dir, `trap 'echo goodbye; exit ${REBOOT_EXIT_CODE}' INT\necho ready\nwhile :; do sleep 0.05; done`);
		const { device, lines } = collect(binary);
		device.start();
		while (!lines.includes("ready")) await new Promise((resolve) => setTimeout(resolve, 20));
		// Even a restart code does not start it again once it was asked to stop.
		t.is(await device.stop(), REBOOT_EXIT_CODE);
		t.is(device.boots, 1);
		t.true(lines.includes("goodbye"));
	}
	finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test("a firmware killed by a signal is said so, and ends the run", async (t) => {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), "linux-target-"));
	try {
		const binary = program(dir, "kill -PIPE $$");
		const { device, lines, exits } = collect(binary);
		device.start();
		t.is(await device.exited, null);
		t.true(lines.includes("# the firmware process was killed by SIGPIPE"), lines.join("\n"));
		t.deepEqual(exits, [{ code: null, rebooting: false, signal: "SIGPIPE" }]);
	}
	finally {
		fs.rmSync(dir, { recursive: true, force: true });
	}
});

test("the local SNTP server answers a client request with this machine's time (RFC 4330)", async (t) => {
	const server = await startLocalSntp();
	if (!server) {
		const text = "cannot bind 127.0.0.1:123 (needs root or CAP_NET_BIND_SERVICE): SNTP server not tested";
		console.warn(`\n${"=".repeat(78)}\n${text}\n${"=".repeat(78)}\n`);
		if (process.env.CI === "true") t.fail(text);
		else t.pass(text);
		return;
	}
	const client = dgram.createSocket("udp4");
	try {
		const request = Buffer.alloc(48);
		request[0] = (0 << 6) | (4 << 3) | 3; // version 4, client
		request.writeUInt32BE(0x12345678, 40); // transmit timestamp, echoed as originate
		request.writeUInt32BE(0x9abcdef0, 44);
		const reply = await new Promise<Buffer>((resolve, reject) => {
			const timer = setTimeout(() => reject(new Error("no SNTP reply within 2 s")), 2000);
			client.once("message", (message) => {
				clearTimeout(timer);
				resolve(message);
			});
			client.send(request, 123, "127.0.0.1");
		});
		t.is(reply.length, 48);
		t.is(reply[0] & 7, 4, "mode 4: server");
		t.is((reply[0] >> 3) & 7, 4, "version 4");
		t.is(reply[1], 1, "stratum 1");
		t.is(reply.readUInt32BE(24), 0x12345678, "originate = the client's transmit time");
		t.is(reply.readUInt32BE(28), 0x9abcdef0);
		const seconds = reply.readUInt32BE(40) - 2_208_988_800;
		t.true(Math.abs(seconds - Date.now() / 1000) < 2, `transmit time ${seconds}`);
	}
	finally {
		client.close();
		server.close();
	}
});

/*
 * `npm start -- --setup`: the simulator opens setup mode, prints the page's URL, and the page is
 * really served there (with the captive DNS beside it).
 */

import { spawn } from "node:child_process";
import dgram from "node:dgram";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import test from "ava";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function freePort(): Promise<number> {
	return new Promise((resolve) => {
		const server = net.createServer().listen(0, "127.0.0.1", () => {
			const port = (server.address() as net.AddressInfo).port;
			server.close(() => resolve(port));
		});
	});
}

test("npm start -- --setup prints the setup page's URL and serves it; its captive DNS answers", async (t) => {
	let port = await freePort();
	// The DNS goes on port + 1: find a pair.
	for (let i = 0; i < 20; i++) {
		const free = await new Promise<boolean>((resolve) => {
			const s = dgram.createSocket("udp4");
			s.once("error", () => resolve(false));
			s.bind(port + 1, "127.0.0.1", () => s.close(() => resolve(true)));
		});
		if (free) break;
		port = await freePort();
	}
	const child = spawn(process.execPath, ["--import", "tsx", "test-host/cli.ts", "--setup", "--setup-port", String(port), "--duration", "60"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
	t.teardown(() => child.kill("SIGTERM"));
	let output = "";
	child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
	child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
	const url = `http://127.0.0.1:${port}/`;
	const deadline = Date.now() + 60_000;
	while (!output.includes(`Setup mode: open ${url}`)) {
		if (Date.now() > deadline || child.exitCode !== null) return t.fail(`no URL printed:\n${output}`);
		await new Promise((r) => setTimeout(r, 100));
	}
	t.regex(output, /accessPoint=sensor-8EA40C accessPointPassword=[A-Z2-9]{5}-[A-Z2-9]{5}/);
	const page = await fetch(url);
	t.is(page.status, 200);
	t.regex(await page.text(), /<title>Sensor setup<\/title>/);
	const info = await (await fetch(`${url}api/info`)).json() as { clientId: string; values: { ssid: string } };
	t.is(info.clientId, "sensor_8EA40C");
	t.is(info.values.ssid, "sim-ap", "the built-in network is the starting value");
	// The captive DNS on port + 1 answers with the page's address.
	const client = dgram.createSocket("udp4");
	t.teardown(() => client.close());
	const answer = await new Promise<Buffer>((resolve) => {
		client.once("message", resolve);
		client.send(Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 0, 0, 1, 0, 1]), port + 1, "127.0.0.1");
	});
	t.deepEqual([...answer.subarray(answer.length - 4)], [127, 0, 0, 1]);
});

/*
 * `npm run check:device` (scripts/check-device.ts): the README's esp32s3 build through tsc, xsc,
 * xsl and mcrez, every import resolving in the built module set, and the firmware on Moddable's
 * Linux target surviving the scenario against Mosquitto inside a machine 1.3 times smaller than
 * the board's. The check must also fail when it should: a module importing what the build lacks.
 *
 * It needs $MODDABLE (the Moddable SDK with its Linux tools built) and $IDF_PATH (ESP-IDF v6.0).
 * CI has neither: those tests are skipped there, loudly. With $MODDABLE set they always run (and
 * fail, saying so, if $IDF_PATH is missing).
 */

import test from "ava";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(ROOT, "scripts/check-device.ts");

const missing = (["MODDABLE"] as const).filter((name) => !process.env[name]);
const reason = "check:device needs MODDABLE (the Moddable SDK with its Linux tools) and IDF_PATH (ESP-IDF)";
if (missing.length) {
	const rule = "=".repeat(78);
	console.warn(`\n${rule}\nDEVICE CHECK TESTS SKIPPED: ${reason}.\nRun them with e.g. MODDABLE=~/moddable IDF_PATH=~/esp-idf npm test\n${rule}\n`);
}

/** Runs the check without blocking the test worker (it takes a minute or two). */
function check(cwd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ status: number | null; output: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, ["--import", "tsx", path.join(cwd, "scripts/check-device.ts"), ...args], { cwd, env });
		let output = "";
		child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
		child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
		const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
		child.on("close", (status) => {
			clearTimeout(timer);
			resolve({ status, output });
		});
	});
}

test("without MODDABLE the check stops with exit code 3 and says what is missing", async (t) => {
	if (missing.length) t.log(`SKIPPED elsewhere in this file: ${reason}`);
	const env = { ...process.env };
	delete env.MODDABLE;
	const run = await check(ROOT, [], env);
	t.is(run.status, 3, run.output);
	t.regex(run.output, /MODDABLE is not set/);
});

// One build at a time: each takes both cores for a while.
const serialSdkTest = missing.length ? test.serial.skip : test.serial;

serialSdkTest("the device build and the Linux XS scenario pass, within the memory budget", async (t) => {
	t.timeout(600_000);
	const run = await check(ROOT, []);
	t.log(run.output.split("\n").filter((l) => l.startsWith("check:device:")).join("\n"));
	t.is(run.status, 0, run.output);
	for (const step of ["esp32s3", "imports", "linux", "boot", "online", "telemetry", "command", "restart", "stop", "memory", "passed"]) {
		t.regex(run.output, new RegExp(`^check:device: ${step}\\s`, "m"), `step ${step}`);
	}
	const memory = /peak live slots (\d+) \(budget (\d+)\), peak live chunks (\d+) bytes \(budget (\d+)\), peak stack (\d+) slots \(budget (\d+)\)/.exec(run.output);
	t.truthy(memory, "the memory line");
	if (!memory) return;
	const [slots, slotBudget, chunks, chunkBudget, stack, stackBudget] = memory.slice(1).map(Number);
	t.true(slots > 0 && slots <= slotBudget);
	t.true(chunks > 0 && chunks <= chunkBudget);
	t.true(stack > 0 && stack <= stackBudget);
});

serialSdkTest("an import that the build does not provide fails the check", async (t) => {
	t.timeout(600_000);
	// A copy of the working tree with src/main.ts importing a module no manifest includes (main is
	// not preloaded, so only the import check can see it before a board does).
	const copy = fs.mkdtempSync(path.join(os.tmpdir(), "check-device-copy-"));
	try {
		const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
		for (const name of files) {
			const from = path.join(ROOT, name);
			if (!fs.existsSync(from)) continue;
			fs.mkdirSync(path.dirname(path.join(copy, name)), { recursive: true });
			fs.copyFileSync(from, path.join(copy, name));
		}
		fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"), "dir");
		const main = path.join(copy, "src/main.ts");
		fs.writeFileSync(main, fs.readFileSync(main, "utf8").replace('import config from "mc/config";', 'import config from "mc/config";\nimport "mdns";'));
		const run = await check(copy, ["--only", "esp32"]);
		t.is(run.status, 1, run.output);
		t.regex(run.output, /main: imports "mdns" \(mdns\), which is not in the build/);
		t.regex(run.output, /FAILED {2}imports: 1 import\(s\) do not resolve/);
	}
	finally {
		fs.rmSync(copy, { recursive: true, force: true });
	}
});

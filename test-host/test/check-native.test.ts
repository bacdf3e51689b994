/*
 * `npm run check:native` (scripts/check-native.ts): the project's C files compile against ESP-IDF's
 * and Moddable's headers, and the check really catches the mistakes it is there for: each
 * deliberately broken copy of a C file must fail it.
 *
 * It needs $MODDABLE and $IDF_PATH (the Moddable SDK and ESP-IDF v6.0, as for mcconfig). Without
 * them those tests are skipped, loudly; the check's own refusal to run without them is always tested.
 */

import test from "ava";
import type { ExecutionContext } from "ava";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const SCRIPT = path.join(ROOT, "scripts/check-native.ts");
const NATIVE = path.join(ROOT, "modules/dht/esp32");

const missing = (["MODDABLE", "IDF_PATH"] as const).filter((name) => !process.env[name]);
const reason = `check:native needs ${missing.join(" and ")} (the Moddable SDK and ESP-IDF folders, as for mcconfig)`;
if (missing.length) {
	const rule = "=".repeat(78);
	console.warn(`\n${rule}\nNATIVE CHECK TESTS SKIPPED: ${reason}.\nRun them with e.g. MODDABLE=~/moddable IDF_PATH=~/esp-idf npm test\n${rule}\n`);
}
const sdkTest = missing.length ? test.skip : test;

interface Run {
	status: number | null;
	output: string;
}

function check(args: string[], env: NodeJS.ProcessEnv = process.env): Run {
	const run = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...args], { cwd: ROOT, env, encoding: "utf8", timeout: 110_000 });
	return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

function without(...names: string[]): NodeJS.ProcessEnv {
	const env = { ...process.env };
	for (const name of names) delete env[name];
	return env;
}

test("without MODDABLE or IDF_PATH the check stops with exit code 3 and names what is missing", (t) => {
	if (missing.length) t.log(`SKIPPED elsewhere in this file: ${reason}`);
	const both = check([], without("MODDABLE", "IDF_PATH"));
	t.is(both.status, 3, both.output);
	t.regex(both.output, /MODDABLE and IDF_PATH are not set/);
	const idf = check([], { ...without("IDF_PATH"), MODDABLE: process.env.MODDABLE ?? "/nonexistent" });
	t.is(idf.status, 3, idf.output);
	t.regex(idf.output, /IDF_PATH is not set/);
	t.notRegex(idf.output, /MODDABLE (and|is)/);
	const wrong = check([], { ...process.env, MODDABLE: os.tmpdir(), IDF_PATH: os.tmpdir() });
	t.is(wrong.status, 3, wrong.output);
	t.regex(wrong.output, /MODDABLE=.* has no xs\/includes/);
});

sdkTest("every C file of the project compiles against ESP-IDF's and Moddable's headers", (t) => {
	const run = check([]);
	t.log(run.output);
	t.is(run.status, 0, run.output);
	t.regex(run.output, /^ok {3}modules\/dht\/esp32\/dhtcapture\.c$/m);
	t.regex(run.output, /release \+ debug/);
});

/** A copy of the native folder with one replacement in dhtcapture.c, checked; the copy is removed. */
function mutated(t: ExecutionContext, from: string, to: string): Run {
	const dir = mkdtempSync(path.join(os.tmpdir(), "check-native-mutant-"));
	try {
		const source = readFileSync(path.join(NATIVE, "dhtcapture.c"), "utf8");
		t.true(source.includes(from), `dhtcapture.c no longer contains ${JSON.stringify(from)}: update this mutation`);
		copyFileSync(path.join(NATIVE, "dhtcapture.js"), path.join(dir, "dhtcapture.js"));
		writeFileSync(path.join(dir, "dhtcapture.c"), source.replace(from, to));
		const run = check([path.join(dir, "dhtcapture.c")]);
		t.log(run.output);
		return run;
	}
	finally {
		rmSync(dir, { recursive: true, force: true });
	}
}

const MUTATIONS: { title: string; from: string; to: string; error: RegExp }[] = [
	{
		title: "a wrong function name",
		from: "rmt_new_rx_channel(&config",
		to: "rmt_new_rx_chanel(&config",
		error: /implicit declaration of function .rmt_new_rx_chanel./,
	},
	{
		title: "a wrong struct field",
		from: ".resolution_hz = kDhtResolutionHz",
		to: ".resolution = kDhtResolutionHz",
		error: /has no member named .resolution.|no member named 'resolution'/,
	},
	{
		title: "a wrong argument type (a struct where its pointer is expected)",
		from: "sizeof(capture->symbols), &receive)",
		to: "sizeof(capture->symbols), receive)",
		error: /incompatible type for argument 4 of .rmt_receive.|passing 'const rmt_receive_config_t'/,
	},
	{
		title: "a wrong argument type (a pointer to the handle instead of the handle)",
		from: "err = rmt_enable(capture->channel);",
		to: "err = rmt_enable(&capture->channel);",
		error: /incompatible[- ]pointer[- ]type/,
	},
	{
		title: "a host function whose C signature differs from the one xsl declares",
		from: "void xs_dhtcapture_abort(xsMachine *the)",
		to: "int xs_dhtcapture_abort(xsMachine *the)",
		error: /conflicting types for .xs_dhtcapture_abort./,
	},
];

for (const mutation of MUTATIONS) {
	sdkTest(`the check fails on ${mutation.title}`, (t) => {
		const run = mutated(t, mutation.from, mutation.to);
		t.is(run.status, 1, run.output);
		t.regex(run.output, /^FAIL /m);
		t.regex(run.output, mutation.error);
	});
}

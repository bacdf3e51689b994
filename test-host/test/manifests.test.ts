/*
 * What can be checked about the Moddable build without the SDK: the manifests parse; every source
 * file is listed under the module specifier its importers use (XS resolves "./x" and "../x"
 * against the importing module's specifier, TypeScript against the file, so the two must agree);
 * only the entry point and the adapters import Moddable modules; no SDK source was copied in; the
 * ESP32-S3 gets its board manifest; every mc/config key the entry point reads has a default that
 * validates; and the TypeScript step mcconfig runs (a generated tsconfig with `paths` for every
 * listed module and typing) compiles, against the typings from @moddable/typings.
 *
 * The manifest rules are modelled on the SDK's documentation (documentation/tools/manifest.md):
 * `"name": "./path"` lists one file under that specifier, `"prefix/*": ["./dir/*", "./file"]`
 * lists files under prefix + file name, "~" excludes files, `platforms` picks the block of the
 * longest matching platform name ("esp32/*" matches any ESP32 subplatform, "..." anything else).
 */

import test from "ava";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { DEVICE_KEY, FLAT_KEYS, PINS_KEY, board, deviceSettings } from "../../src/adapters/mc-config";
import { defaultConfig, validateConfig } from "../../src/settings";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PLATFORM = "esp32/esp32s3";

/** Modules the SDK provides (as the manifests include them) that the adapters may import. */
const MODDABLE_MODULES = new Set([
	"timer", "time", "wifi", "net", "sntp", "socket", "securesocket", "preference", "pins/digital", "system",
	"neopixel", "crypt", "hmac", "rng", "instrumentation", "Resource", "mc/config", "mc/ffi", "microseconds", "debug",
	"http", "dns/server",
	"embedded:update", "embedded:storage/flash", "ecdsa", "curve", "ecp",
]);

type Json = Record<string, unknown>;

interface Manifest {
	file: string;
	dir: string;
	json: Json;
	/** The `platforms` block that applies to PLATFORM, if any. */
	platform: Json | undefined;
}

interface Listed {
	specifier: string;
	file: string;
}

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join("/");

function readJson(file: string): Json {
	return JSON.parse(fs.readFileSync(file, "utf8")) as Json;
}

function asArray(value: unknown): unknown[] {
	return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** The platforms block for `name`: exact or "x/*" for the full name, then its shorter forms, then "...". */
function matchPlatform(platforms: Json | undefined, name: string): Json | undefined {
	if (!platforms) return undefined;
	const parts = name.split("/");
	while (parts.length) {
		const partial = parts.join("/");
		for (const key of Object.keys(platforms)) {
			if (key.endsWith("/*") ? partial.startsWith(key.slice(0, -1)) : key === partial) return platforms[key] as Json;
		}
		parts.pop();
	}
	return platforms["..."] as Json | undefined;
}

/** The root manifest and the local manifests it includes for `platform` (SDK manifests are not followed), includes first. */
function loadManifests(platformName = PLATFORM): Manifest[] {
	const out: Manifest[] = [];
	const seen = new Set<string>();
	const visit = (file: string) => {
		if (seen.has(file)) return;
		seen.add(file);
		const json = readJson(file);
		const dir = path.dirname(file);
		const platform = matchPlatform(json.platforms as Json | undefined, platformName);
		for (const include of [...asArray(json.include), ...asArray(platform?.include)]) {
			if (typeof include === "string" && !include.startsWith("$(")) visit(path.resolve(dir, include));
		}
		out.push({ file, dir, json, platform });
	};
	visit(path.join(ROOT, "manifest.json"));
	return out;
}

function stem(name: string): string {
	if (name.endsWith(".d.ts")) return name.slice(0, -5);
	const dot = name.lastIndexOf(".");
	return dot > 0 ? name.slice(0, dot) : name;
}

/** Files matched by one manifest source ("./dir/name" or "./dir/prefix*"), with the name part for the specifier. */
function matchSource(dir: string, source: string): { file: string; name: string }[] {
	const full = path.resolve(dir, source);
	const folder = path.dirname(full);
	const pattern = path.basename(full);
	const star = pattern.indexOf("*");
	if (!fs.existsSync(folder)) return [];
	const out: { file: string; name: string }[] = [];
	for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
		if (entry.name.startsWith(".") || !entry.isFile()) continue;
		const base = stem(entry.name);
		if (star >= 0) {
			if (base.startsWith(pattern.slice(0, star))) out.push({ file: path.join(folder, entry.name), name: base.slice(star) });
		}
		else if (base === pattern) out.push({ file: path.join(folder, entry.name), name: pattern });
	}
	return out;
}

/**
 * The local .ts modules the manifests list, with their specifiers (the SDK's own sources are
 * skipped); with `declarations`, the .d.ts files that type local JavaScript modules (host-function
 * bindings beside their C files), which mcconfig maps to their specifiers the same way.
 */
function listModules(manifests: Manifest[], declarations = false): Listed[] {
	const blocks = manifests.flatMap((m) => [m.json.modules, m.platform?.modules].filter(Boolean).map((modules) => ({ dir: m.dir, modules: modules as Json })));
	const excluded = new Set<string>();
	for (const { dir, modules } of blocks) {
		for (const source of asArray(modules["~"])) if (typeof source === "string") for (const m of matchSource(dir, source)) excluded.add(m.file);
	}
	const listed: Listed[] = [];
	const seen = new Set<string>();
	for (const { dir, modules } of blocks) {
		for (const [target, sources] of Object.entries(modules)) {
			if (target === "~") continue;
			const star = target.indexOf("*");
			for (const source of asArray(sources)) {
				if (typeof source !== "string" || source.startsWith("$(")) continue;
				for (const m of matchSource(dir, source)) {
					if (!m.file.endsWith(".ts") || m.file.endsWith(".d.ts") !== declarations || excluded.has(m.file) || seen.has(m.file)) continue;
					seen.add(m.file);
					listed.push({ specifier: star >= 0 ? target.slice(0, star) + m.name : target, file: m.file });
				}
			}
		}
	}
	return listed;
}

/** Every .ts source of the firmware: src/ (declarations aside) and each module's top folder (tests aside). */
function sourceFiles(): string[] {
	const out: string[] = [];
	const walk = (dir: string) => {
		for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
			const file = path.join(dir, entry.name);
			if (entry.isDirectory()) {
				if (entry.name !== "test") walk(file);
			}
			else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(file);
		}
	};
	walk(path.join(ROOT, "src"));
	walk(path.join(ROOT, "modules"));
	walk(path.join(ROOT, "platforms"));
	return out.sort();
}

function stripComments(code: string): string {
	return code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** The module specifiers a source imports or re-exports from. */
function importsOf(file: string): string[] {
	const code = stripComments(fs.readFileSync(file, "utf8"));
	const out: string[] = [];
	const statement = /(?:^|[;}\s])(?:import|export)\s+(?:type\s+)?(?:[\w$*\s{},]*?\s+from\s+)?["']([^"']+)["']/g;
	const dynamic = /\bimport\(\s*["']([^"']+)["']\s*\)/g;
	for (const re of [statement, dynamic]) for (let m = re.exec(code); m; m = re.exec(code)) out.push(m[1]);
	return out;
}

/** Relative specifier resolution as XS does it: against the importing module's specifier. */
function resolveSpecifier(from: string, relative: string): string {
	return path.posix.normalize(path.posix.join(path.posix.dirname(from), relative));
}

function mergedConfig(manifests: Manifest[]): Json {
	const merge = (target: Json, source: unknown) => {
		if (!source || typeof source !== "object") return;
		for (const [key, value] of Object.entries(source as Json)) {
			const current = target[key];
			if (current && value && typeof current === "object" && typeof value === "object" && !Array.isArray(value)) merge(current as Json, value);
			else target[key] = JSON.parse(JSON.stringify(value)) as unknown;
		}
	};
	const config: Json = {};
	for (const m of manifests) {
		merge(config, m.json.config);
		merge(config, m.platform?.config);
	}
	return config;
}

const manifests = loadManifests();
const listed = listModules(manifests);
/** The Linux target (mcconfig -p x-cli-lin): the same sources with platforms/linux/ as the board. */
const LINUX = "x-cli-lin";
const linuxManifests = loadManifests(LINUX);
const linuxListed = listModules(linuxManifests);
const declared = listModules(manifests, true);
const bySpecifier = new Map(listed.map((l) => [l.specifier, l]));
const byFile = new Map(listed.map((l) => [l.file, l]));

test("every manifest is valid JSON", (t) => {
	const files = [
		path.join(ROOT, "manifest.json"),
		...fs.readdirSync(path.join(ROOT, "platforms")).map((d) => path.join(ROOT, "platforms", d, "manifest.json")),
		...fs.readdirSync(path.join(ROOT, "modules")).map((d) => path.join(ROOT, "modules", d, "manifest.json")),
	];
	for (const file of files) {
		t.true(fs.existsSync(file), `${rel(file)} is missing`);
		t.notThrows(() => readJson(file), rel(file));
	}
	t.true(manifests.length > 5);
});

test("every source file is listed by a manifest, once, under a unique specifier", (t) => {
	const linuxFiles = new Set(linuxListed.map((l) => l.file));
	const missing = sourceFiles().filter((f) => !byFile.has(f) && !linuxFiles.has(f)).map(rel);
	t.deepEqual(missing, [], "files no manifest lists (for esp32/esp32s3 or x-cli-lin)");
	for (const set of [listed, linuxListed]) {
		const specifiers = set.map((l) => l.specifier);
		t.deepEqual(specifiers.filter((s, i) => specifiers.indexOf(s) !== i), [], "specifiers listed twice");
	}
	t.is(linuxListed.find((l) => l.specifier === "board")?.file, path.join(ROOT, "platforms/linux/board.ts"));
	t.is(linuxListed.find((l) => l.specifier === "mc/config")?.file, path.join(ROOT, "platforms/linux/config.ts"));
	t.false(linuxListed.some((l) => l.specifier.startsWith("adapters/esp32/")), "no ESP32 adapter in the Linux build");
	t.is(bySpecifier.get("main")?.file, path.join(ROOT, "src/main.ts"));
	t.is(bySpecifier.get("device")?.file, path.join(ROOT, "src/device.ts"));
	t.is(bySpecifier.get("adapters/socket")?.file, path.join(ROOT, "src/adapters/socket.ts"));
	t.is(bySpecifier.get("mqttclient/codec")?.file, path.join(ROOT, "modules/mqttclient/codec.ts"));
	t.false([...bySpecifier.keys()].some((s) => s.includes("moddable")), "src/moddable.d.ts is a declaration file, not a module");
});

test("imports resolve to listed specifiers, and XS and TypeScript resolve them to the same file", (t) => {
	const problems: string[] = [];
	for (const { specifier, file } of listed) {
		for (const imported of importsOf(file)) {
			if (imported.startsWith(".")) {
				const target = bySpecifier.get(resolveSpecifier(specifier, imported));
				const onDisk = path.resolve(path.dirname(file), imported) + ".ts";
				if (!target) problems.push(`${rel(file)}: "${imported}" is "${resolveSpecifier(specifier, imported)}" for XS, which no manifest lists`);
				else if (target.file !== onDisk) problems.push(`${rel(file)}: "${imported}" is ${rel(target.file)} for XS but ${rel(onDisk)} for TypeScript`);
			}
			else if (!bySpecifier.has(imported) && !MODDABLE_MODULES.has(imported) && !declared.some((d) => d.specifier === imported)) problems.push(`${rel(file)}: "${imported}" is neither a listed module nor a known Moddable module`);
		}
	}
	t.deepEqual(problems, []);
});

test("only src/main.ts, src/adapters/ and the boards import Moddable modules", (t) => {
	const offenders: string[] = [];
	for (const file of sourceFiles()) {
		const r = rel(file);
		if (r === "src/main.ts" || r.startsWith("src/adapters/") || r.startsWith("platforms/")) continue;
		for (const imported of importsOf(file)) if (MODDABLE_MODULES.has(imported)) offenders.push(`${r} imports "${imported}"`);
	}
	t.deepEqual(offenders, []);
});

test("no Moddable SDK copyright header in the repository", (t) => {
	const needle = ["Moddable", "Tech, Inc"].join(" ");
	const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" })
		.split("\0")
		.filter(Boolean);
	t.true(files.length > 20);
	const hits: string[] = [];
	for (const name of files) {
		const file = path.join(ROOT, name);
		if (!fs.existsSync(file) || !fs.statSync(file).isFile()) continue;
		const bytes = fs.readFileSync(file);
		if (bytes.includes(0)) continue;
		if (bytes.toString("utf8").includes(needle)) hits.push(name);
	}
	t.deepEqual(hits, []);
});

test("the ESP32-S3 build includes the board manifest: NeoPixel, the native DHT receiver, no legacy RMT driver", (t) => {
	const root = readJson(path.join(ROOT, "manifest.json"));
	const block = matchPlatform(root.platforms as Json, PLATFORM);
	t.is(block?.include, "./platforms/esp32s3/manifest.json");
	t.is(matchPlatform(root.platforms as Json, "esp32/esp32c3")?.include, "./platforms/esp32s3/manifest.json");
	t.truthy(matchPlatform(root.platforms as Json, "esp32/esp32c3")?.warning);
	t.truthy(matchPlatform(root.platforms as Json, "lin")?.error, "other platforms are refused");
	const board = manifests.find((m) => rel(m.file) === "platforms/esp32s3/manifest.json");
	t.truthy(board, "platforms/esp32s3/manifest.json is included for esp32/esp32s3");
	const includes = asArray(board?.json.include);
	t.false(includes.includes("$(MODDABLE)/modules/pins/rmt/manifest.json"), "pins/rmt (legacy RMT driver) is refused by SDK 8.2 and aborts beside NeoPixel");
	t.true(includes.includes("$(MODDABLE)/modules/drivers/neopixel/manifest.json"));
	t.true(includes.includes("$(MODDABLE)/modules/io/manifest.json"), "System.restart() comes from modules/io/system");
	t.is(bySpecifier.get("board")?.file, path.join(ROOT, "platforms/esp32s3/board.ts"));
	t.truthy(declared.find((d) => d.specifier === "dht/esp32/dhtcapture"), "the native DHT receiver is listed for esp32");
	t.is((mergedConfig(manifests).led as Json | undefined)?.rainbow, false, "the target's LED rainbow is off");
});

test("every mc/config key the entry point reads has a default, and the defaults are valid", (t) => {
	const config = mergedConfig(manifests);
	const read = new Set([...Object.keys(FLAT_KEYS), DEVICE_KEY, PINS_KEY]);
	const main = stripComments(fs.readFileSync(path.join(ROOT, "src/main.ts"), "utf8"));
	for (const m of main.matchAll(/\bconfig\.(\w+)/g)) read.add(m[1]);
	const mapping = stripComments(fs.readFileSync(path.join(ROOT, "src/adapters/mc-config.ts"), "utf8"));
	for (const m of mapping.matchAll(/\bmc\.(\w+)|\bmc\[["'](\w+)["']\]/g)) read.add(m[1] ?? m[2]);
	t.deepEqual([...read].filter((key) => !(key in config)), [], "keys without a default in the manifests' config");

	const settings = deviceSettings(config);
	t.deepEqual(settings.errors, []);
	t.deepEqual(validateConfig(settings.input, defaultConfig(), { coerceStrings: true }).errors, []);
	const pins = board(config);
	t.deepEqual(pins.errors, []);
	t.deepEqual(pins.board.dht, { pin: 4 });
	t.like(pins.board.led, { kind: "neopixel", pin: 48 });
	t.is(pins.board.power, undefined);
});

test("command-line values (strings) map onto the device settings", (t) => {
	const config = mergedConfig(manifests);
	const cli = { ...config, wifi_ssid: "lab", wifi_password: "secret", broker: "mqtts://broker.lan:8883", ca: "ca.der", mqtt_version: "5", auth: "password", mqtt_username: "u", mqtt_password: "p", ntp: "a.example,b.example" };
	const settings = deviceSettings(cli);
	const { value, errors } = validateConfig(settings.input, defaultConfig(), { coerceStrings: true });
	t.deepEqual(errors, []);
	t.like(value, { wifi: { ssid: "lab", password: "secret" }, mqtt: { url: "mqtts://broker.lan:8883", ca: "ca.der", protocolVersion: 5 }, auth: { mode: "password", username: "u", password: "p" } });
	t.deepEqual(value.time.servers, ["a.example", "b.example"]);
	// The nested object sets what has no flat key; a flat key set to "" does not override it.
	const nested = deviceSettings({ ...config, device: { mqtt: { keepAlive: 30 }, device: { deviceId: "kitchen" } }, device_id: "" });
	t.like(validateConfig(nested.input, defaultConfig(), { coerceStrings: true }).value, { mqtt: { keepAlive: 30 }, device: { deviceId: "kitchen" } });
	t.is(validateConfig(deviceSettings({ ...config, mqtt_version: "3.1.1" }).input, defaultConfig(), { coerceStrings: true }).value.mqtt.protocolVersion, 4);
});

/*
 * The TypeScript step of mcconfig: a tsconfig.json in the build folder with the manifest's
 * compilerOptions over mcconfig's defaults, `paths` for every listed .ts module and every typing
 * (as examples/manifest_typings.json maps $(MODDABLE)/typings), and `files` listing the sources.
 * A stand-in for $(MODDABLE) is made from @moddable/typings (its xs.d.ts as xs/includes/xs.d.ts).
 */
test("the TypeScript step mcconfig runs compiles", (t) => {
	const typings = path.join(ROOT, "node_modules/@moddable/typings");
	const sdk = fs.mkdtempSync(path.join(os.tmpdir(), "moddable-"));
	const build = path.join(sdk, "build/tmp/modules");
	try {
		fs.mkdirSync(path.join(sdk, "xs/includes"), { recursive: true });
		fs.mkdirSync(build, { recursive: true });
		fs.copyFileSync(path.join(typings, "xs.d.ts"), path.join(sdk, "xs/includes/xs.d.ts"));
		fs.symlinkSync(typings, path.join(sdk, "typings"), "dir");

		const paths: Record<string, string[]> = {};
		const typingFolders: [string, string][] = [["", ""], ["mc/", "mc"], ["pins/", "pins"], ["dns/", "dns"], ["embedded:io/", "embedded_io"], ["embedded:provider/", "embedded_provider"]];
		for (const [prefix, folder] of typingFolders) {
			for (const name of fs.readdirSync(path.join(typings, folder))) {
				if (name.endsWith(".d.ts")) paths[prefix + name.slice(0, -5)] = [path.join(sdk, "typings", folder, name.slice(0, -5))];
			}
		}
		for (const l of listed) paths[l.specifier] = [l.file.slice(0, -3)];
		for (const d of declared) paths[d.specifier] = [d.file.slice(0, -5)];

		const root = readJson(path.join(ROOT, "manifest.json"));
		const environment: Record<string, string> = { MODDABLE: sdk, SENSOR_FIRMWARE_DIR: path.resolve(ROOT, ((root.build as Json).SENSOR_FIRMWARE_DIR as string)) };
		const resolve = (value: string) => value.replace(/\$\(([^)]+)\)/g, (_, name: string) => environment[name] ?? "");
		const typescript = root.typescript as { compiler: string; tsconfig: { compilerOptions: Json } };
		t.is(typescript.compiler, "tsc");
		const options: Json = {};
		for (const [name, value] of Object.entries(typescript.tsconfig.compilerOptions)) {
			if (name === "types") options.types = (value as string[]).map((p) => path.resolve(ROOT, resolve(p)));
			else options[name] = typeof value === "string" ? resolve(value) : value;
		}
		t.false("paths" in options, "mcconfig generates paths; a manifest value would replace them");
		const tsconfig = {
			compilerOptions: { baseUrl: "./", forceConsistentCasingInFileNames: true, module: "es2020", outDir: build, paths: {}, lib: ["es2020"], sourceMap: true, target: "ES2020", ...options, noEmit: true },
			files: listed.map((l) => l.file),
		};
		(tsconfig.compilerOptions as { paths: unknown }).paths = paths;
		fs.writeFileSync(path.join(build, "tsconfig.json"), JSON.stringify(tsconfig, null, "\t"));

		const parsed = ts.getParsedCommandLineOfConfigFile(path.join(build, "tsconfig.json"), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
		if (!parsed) return t.fail("tsconfig not parsed");
		const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
		const diagnostics = [...parsed.errors, ...ts.getPreEmitDiagnostics(program)];
		const text = ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => "\n" });
		t.is(text, "", "tsc reports");
		t.true(program.getSourceFiles().some((f) => f.fileName.endsWith("src/moddable.d.ts")), "src/moddable.d.ts comes in through types");
	}
	finally {
		fs.rmSync(sdk, { recursive: true, force: true });
	}
});

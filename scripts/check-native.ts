/*
 * `npm run check:native [-- file.c ...]`: compiles the project's ESP32 C files (every *.c outside
 * node_modules and platforms/linux/, or the files named) with the host C compiler in syntax-only mode, against ESP-IDF's
 * headers for the ESP32-S3 ($IDF_PATH) and Moddable's XS headers ($MODDABLE), the way mcconfig
 * compiles a module's C file for esp32/esp32s3. No ESP32 toolchain is needed, and nothing is built.
 *
 * What fails: an unknown function (implicit declaration), a wrong struct field, an argument of the
 * wrong type (incompatible pointer, integer for pointer), a missing return value, a host function
 * whose C definition differs from the declaration xsl generates, or one the module's .js declares
 * (`@ "xs_name"`) that no C file of its folder defines. Other warnings are printed, not fatal: the
 * host's types differ from Xtensa's (64-bit pointers, int32_t is int, not long), so some are
 * false alarms. Each file is compiled twice: as a release build and with mxDebug=1.
 *
 * What stands in for the build's generated files (in a temporary folder, deleted afterwards):
 * - sdkconfig.h: scripts/native/sdkconfig.h, the few CONFIG_ values the headers need.
 * - mc.xs.h: for each .js beside the C file, the host function declarations xsl would write, and
 *   an xsID_ define for every identifier of the project's .js and .ts sources (xsl defines one per
 *   symbol of the program, so an xsID_ for a name no module uses would not exist there either).
 * - mc.defines.h: empty (a module using a manifest's "defines" would need more here).
 * - lwip/netdb.h and lwip/inet.h, which xsPlatform.h includes: empty, if ESP-IDF's lwIP submodule
 *   is not checked out (a headers-only copy of ESP-IDF); the real ones otherwise.
 *
 * Exit status: 0 all files compile, 1 a file does not, 3 the environment is incomplete ($MODDABLE
 * or $IDF_PATH unset or not the expected folders, no C compiler).
 */

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TARGET = "esp32s3";
const ARCH = "xtensa";
/** -DESP32= as tools/mcconfig/make.esp32.mk sets it for esp32s3. */
const ESP32_TARGET = 3;
/** Folders never searched for C files or identifiers. */
const SKIP = new Set(["node_modules", ".git", "build", "tmp", ".sim-data"]);

const EXIT_FAILED = 1;
const EXIT_ENVIRONMENT = 3;

/** Diagnostics that fail the check. */
const ERRORS = [
	"implicit-function-declaration",
	"implicit-int",
	"incompatible-pointer-types",
	"int-conversion",
	"return-type",
];

/** Defines of Moddable's esp32 build (tools/mcconfig/make.esp32.mk: C_DEFINES and C_COMMON_FLAGS). */
const MODDABLE_DEFINES = [
	"-D__ets__",
	"-U__STRICT_ANSI__",
	`-DESP32=${ESP32_TARGET}`,
	"-DmxUseDefaultSharedChunks=1",
	"-DWITH_POSIX",
	"-DHAVE_CONFIG_H",
	"-DBOOTLOADER_BUILD=1",
	"-DESP_PLATFORM",
];

/** What the Xtensa compiler predefines and the headers test (little-endian, windowed ABI). */
const XTENSA_DEFINES = ["-D__XTENSA__=1", "-D__xtensa__=1", "-D__XTENSA_EL__=1", "-D__XTENSA_WINDOWED_ABI__=1"];

const VARIANTS: { name: string; defines: string[] }[] = [
	{ name: "release", defines: [] },
	{ name: "debug", defines: ["-DmxDebug=1"] },
];

class EnvironmentError extends Error {}

function fail(message: string): never {
	throw new EnvironmentError(message);
}

function isDirectory(dir: string): boolean {
	try {
		return statSync(dir).isDirectory();
	}
	catch {
		return false;
	}
}

const SETUP = "Set MODDABLE to the Moddable SDK's folder and IDF_PATH to ESP-IDF's (v6.0 for Moddable 8.2), as for mcconfig.";

/** $MODDABLE and $IDF_PATH, checked: each must be set and be the expected kind of folder. */
function environment(): { moddable: string; idf: string } {
	const wanted = { MODDABLE: "xs/includes", IDF_PATH: "components/esp_driver_rmt/include" } as const;
	const unset = (Object.keys(wanted) as (keyof typeof wanted)[]).filter((name) => !process.env[name]);
	if (unset.length) fail(`${unset.join(" and ")} ${unset.length > 1 ? "are" : "is"} not set. ${SETUP}`);
	const folder = (name: keyof typeof wanted) => {
		const value = process.env[name] as string;
		const dir = path.resolve(value);
		if (!isDirectory(path.join(dir, wanted[name]))) fail(`${name}=${value} has no ${wanted[name]}/. ${SETUP}`);
		return dir;
	};
	return { moddable: folder("MODDABLE"), idf: folder("IDF_PATH") };
}

function walk(dir: string, accept: (name: string) => boolean, out: string[] = []): string[] {
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		if (entry.name.startsWith(".") || SKIP.has(entry.name)) continue;
		const file = path.join(dir, entry.name);
		if (entry.isDirectory()) walk(file, accept, out);
		else if (entry.isFile() && accept(entry.name)) out.push(file);
	}
	return out;
}

/** ESP-IDF include folders for the target, ordered as the build would search them. */
function idfIncludes(idf: string): string[] {
	const components = path.join(idf, "components");
	const other = new Set(["linux", "riscv", "lwip"]); // another target's architecture; lwIP below
	const dirs: string[] = [];
	const add = (...parts: string[]) => {
		const dir = path.join(components, ...parts);
		if (isDirectory(dir) && !dirs.includes(dir)) dirs.push(dir);
	};
	const names = readdirSync(components).filter((n) => isDirectory(path.join(components, n))).sort();
	for (const name of names) if (!other.has(name)) add(name, "include");
	for (const name of names) if (!other.has(name)) add(name, TARGET, "include");
	add("freertos", "config", "include");
	add("freertos", "config", "include", "freertos");
	add("freertos", "config", ARCH, "include");
	add("freertos", "FreeRTOS-Kernel", "include");
	add("freertos", "FreeRTOS-Kernel", "portable", ARCH, "include");
	add("freertos", "FreeRTOS-Kernel", "portable", ARCH, "include", "freertos");
	add("freertos", "esp_additions", "include");
	add("esp_hw_support", "etm", "include");
	add("esp_hw_support", "include", "soc");
	add("esp_hw_support", "port", TARGET, "private_include");
	add("esp_rom", "include", TARGET);
	add("esp_rom", TARGET, "include", TARGET);
	add("soc", TARGET);
	add("soc", TARGET, "register");
	add("soc", "include", "soc");
	add(ARCH, TARGET, "include");
	return dirs;
}

/** lwIP's include folders, or none when its submodule is not checked out (then stubs are used). */
function lwipIncludes(idf: string): string[] | undefined {
	const lwip = path.join(idf, "components", "lwip");
	if (!isDirectory(path.join(lwip, "lwip", "src", "include"))) return undefined;
	return [
		path.join(lwip, "include"),
		path.join(lwip, "lwip", "src", "include"),
		path.join(lwip, "port", "include"),
		path.join(lwip, "port", "freertos", "include"),
		path.join(lwip, "port", "esp32xx", "include"),
	].filter(isDirectory);
}

/** Moddable's include folders for an esp32 module (make.esp32.mk XS_DIRS, xsProj main/CMakeLists.txt). */
function moddableIncludes(moddable: string): string[] {
	return [
		"xs/includes",
		"xs/platforms/esp",
		"xs/platforms/mc",
		"modules/base/instrumentation",
		"modules/base/timer",
		"modules/io",
	].map((d) => path.join(moddable, d)).filter(isDirectory);
}

interface HostFunction {
	name: string;
	destructor: boolean;
	declaredIn: string;
}

function stripComments(code: string): string {
	return code.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/\/\/[^\n]*/g, " ");
}

/** The host functions the .js files of a folder declare: `class X @ "destructor"` and `name() @ "xs_name"`. */
function hostFunctions(dir: string): HostFunction[] {
	const out: HostFunction[] = [];
	for (const name of readdirSync(dir).filter((n) => n.endsWith(".js")).sort()) {
		const code = stripComments(readFileSync(path.join(dir, name), "utf8"));
		for (const m of code.matchAll(/(\bclass\s+[\w$]+(?:\s+extends\s+[\w$.]+)?\s*)?@\s*"([A-Za-z_]\w*)"/g)) {
			out.push({ name: m[2], destructor: Boolean(m[1]), declaredIn: name });
		}
	}
	return out;
}

/** Every identifier of the project's JavaScript and TypeScript sources (and of `extra` folders). */
function projectIdentifiers(extra: string[]): Set<string> {
	const files = walk(ROOT, (n) => /\.(js|ts)$/.test(n) && !n.endsWith(".d.ts"));
	for (const dir of extra) for (const n of readdirSync(dir)) if (/\.(js|ts)$/.test(n)) files.push(path.join(dir, n));
	const ids = new Set<string>();
	for (const file of files) {
		if (file.includes(`${path.sep}test${path.sep}`) || file.includes(`${path.sep}scripts${path.sep}`)) continue;
		for (const m of stripComments(readFileSync(file, "utf8")).matchAll(/[A-Za-z_][A-Za-z0-9_]*/g)) ids.add(m[0]);
	}
	return ids;
}

/** The stand-ins for the build's generated headers, for the C files of one folder. */
function writeGenerated(dir: string, sourceDir: string, ids: Set<string>, stubLwip: boolean): HostFunction[] {
	mkdirSync(dir, { recursive: true });
	const functions = hostFunctions(sourceDir);
	const lines = ["/* check:native stand-in for the mc.xs.h that xsl generates */", '#include "xs.h"', ""];
	for (const f of functions) lines.push(f.destructor ? `extern void ${f.name}(void* data);` : `extern void ${f.name}(xsMachine* the);`);
	lines.push("");
	let id = 0;
	for (const name of [...ids].sort()) lines.push(`#define xsID_${name} ${id++}`);
	writeFileSync(path.join(dir, "mc.xs.h"), lines.join("\n") + "\n");
	writeFileSync(path.join(dir, "mc.defines.h"), "/* check:native stand-in: no manifest defines */\n");
	if (stubLwip) {
		mkdirSync(path.join(dir, "lwip"), { recursive: true });
		for (const name of ["netdb.h", "inet.h"]) writeFileSync(path.join(dir, "lwip", name), "/* check:native stand-in: lwIP submodule absent */\n");
	}
	return functions;
}

function findCompiler(): string {
	const candidates = process.env.CC ? [process.env.CC] : ["cc", "gcc", "clang"];
	for (const cc of candidates) {
		const probe = spawnSync(cc, ["--version"], { encoding: "utf8" });
		if (probe.status === 0) return cc;
	}
	return fail(`no host C compiler found (tried ${candidates.join(", ")}; set CC to choose one).`);
}

interface Result {
	file: string;
	ok: boolean;
	output: string;
}

function rel(file: string): string {
	const r = path.relative(ROOT, file);
	return r.startsWith("..") ? file : r.split(path.sep).join("/");
}

function main(): number {
	const { moddable, idf } = environment();
	const cc = findCompiler();

	const args = process.argv.slice(2);
	// platforms/linux/ holds the Linux target's host process, compiled by gcc in every Linux build
	// (npm run check:device); everything else is ESP32 code.
	const linux = path.join(ROOT, "platforms", "linux") + path.sep;
	const files = (args.length ? args.map((f) => path.resolve(f)) : walk(ROOT, (n) => n.endsWith(".c")).filter((f) => !f.startsWith(linux))).sort();
	for (const file of files) if (!existsSync(file)) fail(`${file} does not exist.`);
	if (!files.length) {
		console.log("check:native: no C files in the project.");
		return 0;
	}

	const lwip = lwipIncludes(idf);
	const ids = projectIdentifiers([...new Set(files.map((f) => path.dirname(f)))]);
	const system = [...moddableIncludes(moddable), ...(lwip ?? []), ...idfIncludes(idf)];
	const scratch = mkdtempSync(path.join(os.tmpdir(), "check-native-"));
	const results: Result[] = [];
	try {
		const folders = [...new Set(files.map((f) => path.dirname(f)))];
		for (const [index, folder] of folders.entries()) {
			const generated = path.join(scratch, String(index));
			const functions = writeGenerated(generated, folder, ids, !lwip);
			const inFolder = files.filter((f) => path.dirname(f) === folder);
			const definitions = readdirSync(folder).filter((n) => n.endsWith(".c")).map((n) => stripComments(readFileSync(path.join(folder, n), "utf8"))).join("\n");
			const undefinedFunctions = functions.filter((f) => !new RegExp(`\\bvoid\\s+${f.name}\\s*\\(`).test(definitions));
			for (const file of inFolder) {
				const outputs: string[] = [];
				let ok = true;
				for (const variant of VARIANTS) {
					const argv = [
						"-fsyntax-only",
						"-std=gnu17",
						"-Wall",
						"-Wno-unused-parameter",
						...ERRORS.map((e) => `-Werror=${e}`),
						...XTENSA_DEFINES,
						...MODDABLE_DEFINES,
						...variant.defines,
						`-I${generated}`,
						`-I${path.join(ROOT, "scripts", "native")}`,
						...system.map((d) => `-isystem${d}`),
						// newlib-only headers (sys/lock.h...) after the host C library's own.
						`-idirafter${path.join(idf, "components", "esp_libc", "platform_include")}`,
						file,
					];
					const run = spawnSync(cc, argv, { encoding: "utf8" });
					const text = `${run.stdout ?? ""}${run.stderr ?? ""}`.trim();
					if (run.error) fail(`${cc}: ${run.error.message}`);
					if (run.status !== 0) ok = false;
					if (text) outputs.push(`[${variant.name}]\n${text}`);
				}
				for (const f of undefinedFunctions) {
					ok = false;
					outputs.push(`${rel(file)}: error: host function ${f.name} (declared in ${f.declaredIn}) is not defined by a C file of ${rel(folder)}`);
				}
				results.push({ file, ok, output: outputs.join("\n") });
			}
		}
	}
	finally {
		rmSync(scratch, { recursive: true, force: true });
	}

	console.log(`check:native: ${cc}, syntax only, ${TARGET} (ESP-IDF ${idf}, Moddable ${moddable}), ${VARIANTS.map((v) => v.name).join(" + ")}`);
	if (!lwip) console.log("check:native: ESP-IDF's lwIP submodule is not checked out: lwip/netdb.h and lwip/inet.h (included by xsPlatform.h) are empty stand-ins.");
	for (const r of results) {
		console.log(`${r.ok ? "ok  " : "FAIL"} ${rel(r.file)}`);
		if (r.output) (r.ok ? console.log : console.error)(r.output.replace(/^/gm, "     "));
	}
	const failed = results.filter((r) => !r.ok).length;
	console.log(`check:native: ${results.length - failed} of ${results.length} C file(s) compile.`);
	return failed ? EXIT_FAILED : 0;
}

try {
	process.exitCode = main();
}
catch (e) {
	if (!(e instanceof EnvironmentError)) throw e;
	console.error(`check:native: ${e.message}`);
	process.exitCode = EXIT_ENVIRONMENT;
}

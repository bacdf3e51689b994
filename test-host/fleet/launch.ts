/*
 * `npm run fleet`: bundles the fleet tool with esbuild, then runs the bundle in a child Node with
 * --expose-gc (exact memory figures), passing the arguments, the terminal and the exit code through.
 *
 * Why a bundle instead of running the sources under tsx: tsx compiles with esbuild's keepNames,
 * which wraps every named function in __name(), defining a `name` property on each closure. The
 * device code makes ~55 closures per device, so under tsx each carries a property dictionary:
 * 32.6 KB of heap per device against 19.0 KB bundled (1,000 devices, measured 2026-11-30). The
 * bundle is the same TypeScript, compiled once without keepNames; packages stay external.
 */

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
/** Inside the repository (gitignored) so that the bundle's package imports resolve from node_modules. */
export const BUNDLE = path.join(HERE, ".build/cli.mjs");

/** Builds the fleet bundle; returns its path. */
export async function bundleFleet(): Promise<string> {
	// Built under a name of its own, then renamed over the bundle: two fleets starting at once never read half a file.
	const own = path.join(HERE, `.build/cli-${process.pid}.mjs`);
	await build({
		entryPoints: [path.join(HERE, "cli.ts")],
		bundle: true,
		platform: "node",
		format: "esm",
		target: "node20",
		outfile: own,
		tsconfig: path.join(ROOT, "tsconfig.json"),
		packages: "external",
		sourcemap: "inline",
		logLevel: "warning",
	});
	fs.renameSync(own, BUNDLE);
	return BUNDLE;
}

/** Node flags for the fleet process: collections on demand for the memory figures, source maps for stack traces. */
export const FLEET_NODE_FLAGS = ["--expose-gc", "--enable-source-maps"];

async function main(): Promise<number> {
	const bundle = await bundleFleet();
	const child = spawn(process.execPath, [...FLEET_NODE_FLAGS, bundle, ...process.argv.slice(2)], { stdio: "inherit", env: { ...process.env, FLEET_PARENT: String(process.pid) } });
	// Ctrl-C reaches the child too (same process group): it stops the fleet cleanly; this one waits.
	const ignore = () => {};
	process.on("SIGINT", ignore);
	process.on("SIGTERM", () => child.kill("SIGTERM"));
	return new Promise((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	main().then((code) => process.exit(code), (e: unknown) => {
		process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
		process.exit(1);
	});
}

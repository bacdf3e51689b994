/*
 * Bundles platform-free TypeScript into one script that the XS worker can evaluate.
 *
 * The bundle is an IIFE assigned to a global, so after `worker.evaluate(code)` the entry's exports
 * are at `__xs.<name>`. esbuild starts the bundle with "use strict" (tsconfig `strict`), and a var
 * declared by a strict eval stays local to that eval, so a footer publishes it on globalThis. Module specifiers like `bytes` or `mqttclient/*`
 * resolve through the `paths` of tsconfig.json. Any Node builtin (`node:fs`, `fs`, ...) fails the
 * bundle: device logic that needs one would not run on the device either.
 */

import { build, formatMessages } from "esbuild";
import type { BuildFailure, Message, Plugin } from "esbuild";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface BundleOptions {
	/** The global the entry's exports are assigned to; default "__xs". */
	globalName?: string;
}

function escapeRegExp(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Matches `node:anything` and the bare builtin names (`fs`, `fs/promises`, ...). */
const NODE_BUILTIN = new RegExp(`^(node:.*|(${builtinModules.map(escapeRegExp).join("|")})(/.*)?)$`);

/** Refuses every import of a Node builtin, naming it and the file that imports it. */
const noNodeBuiltins: Plugin = {
	name: "no-node-builtins",
	setup(pluginBuild) {
		pluginBuild.onResolve({ filter: NODE_BUILTIN }, (args) => ({
			errors: [{
				text: `"${args.path}" is a Node builtin, which does not exist in XS (imported by ${path.relative(PROJECT_ROOT, args.importer)})`,
			}],
		}));
	},
};

/** `globalThis.x = x;` for the root identifier of a global name like "x" or "x.y". */
function publishGlobal(globalName: string): string {
	const root = /^[A-Za-z_$][\w$]*/.exec(globalName)?.[0];
	if (!root) throw new Error(`bundleForXs: globalName ${JSON.stringify(globalName)} does not start with an identifier`);
	return `globalThis.${root} = ${root};`;
}

function isBuildFailure(error: unknown): error is BuildFailure {
	return error instanceof Error && Array.isArray((error as Partial<BuildFailure>).errors);
}

async function describe(messages: Message[], kind: "error" | "warning"): Promise<string> {
	return (await formatMessages(messages, { kind, color: false })).join("").trimEnd();
}

async function runBuild(entry: string, globalName: string): Promise<string> {
	const result = await build({
		entryPoints: [entry],
		absWorkingDir: PROJECT_ROOT,
		tsconfig: path.join(PROJECT_ROOT, "tsconfig.json"),
		bundle: true,
		format: "iife",
		globalName,
		footer: { js: publishGlobal(globalName) },
		target: "es2022",
		platform: "neutral",
		external: [],
		plugins: [noNodeBuiltins],
		write: false,
		sourcemap: false,
		minify: false,
		logLevel: "silent",
	});
	if (result.warnings.length) console.warn(await describe(result.warnings, "warning"));
	const [output] = result.outputFiles;
	if (!output) throw new Error(`bundleForXs(${entry}): esbuild produced no output`);
	return output.text;
}

/**
 * Bundles `entry` (relative to the project root, or absolute) for XS and returns the script.
 * Throws, listing esbuild's errors, when the bundle fails, including on any Node builtin import.
 */
export async function bundleForXs(entry: string, options: BundleOptions = {}): Promise<string> {
	const entryPath = path.resolve(PROJECT_ROOT, entry);
	try {
		return await runBuild(entryPath, options.globalName ?? "__xs");
	}
	catch (error) {
		if (!isBuildFailure(error)) throw error;
		const details = await describe(error.errors, "error");
		throw new Error(`bundleForXs(${entry}) failed:\n${details}`, { cause: error });
	}
}

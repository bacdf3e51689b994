/*
 * The XS runner: bundled platform-free logic evaluated inside the real XS engine (xsnap-worker),
 * compared with the same logic on Node.
 */

import test from "ava";
import type { ExecutionContext } from "ava";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bundleForXs } from "../xs/bundle";
import { XsError, XsWorker, requireXs } from "../xs/xsnap";
import { run as helloOnNode } from "../xs/fixtures/hello";

// Under CI=true a missing engine throws here, so these tests cannot be skipped silently.
const xsTest = (await requireXs()) ? test : test.skip;

async function withWorker<T>(body: (worker: XsWorker) => Promise<T>): Promise<T> {
	const worker = await XsWorker.start();
	try {
		return await body(worker);
	}
	finally {
		await worker.close();
	}
}

function isGone(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return false;
	}
	catch (error) {
		return (error as NodeJS.ErrnoException).code === "ESRCH";
	}
}

xsTest("evaluates expressions and returns ArrayBuffer bytes", async (t) => {
	await withWorker(async (worker) => {
		t.is(await worker.evaluateJson("6 * 7"), 42);
		t.deepEqual(await worker.evaluateJson("({ list: [1, 'two'], nested: { ok: true } })"), { list: [1, "two"], nested: { ok: true } });
		t.is(await worker.evaluateJson("let x = 2; x + 1"), 3);
		const bytes = await worker.evaluate("new Uint8Array([1, 2, 255]).buffer");
		t.deepEqual([...bytes], [1, 2, 255]);
		t.is((await worker.evaluate("1 + 1")).byteLength, 0, "a non-ArrayBuffer result has no bytes");
		t.true((worker.lastMeter?.compute ?? 0) > 0, "the meter prefix is parsed");
	});
});

xsTest("runs in XS, not Node: the globals are XS's", async (t) => {
	await withWorker(async (worker) => {
		const types = await worker.evaluateJson<Record<string, string>>(`({
			setTimeout: typeof setTimeout, console: typeof console, structuredClone: typeof structuredClone,
			Intl: typeof Intl, crypto: typeof crypto, process: typeof process, TextEncoder: typeof TextEncoder,
			TextDecoder: typeof TextDecoder, setImmediate: typeof setImmediate, print: typeof print,
			performanceNow: typeof performance.now, harden: typeof harden, Compartment: typeof Compartment,
		})`);
		t.deepEqual(types, {
			setTimeout: "undefined", console: "undefined", structuredClone: "undefined",
			Intl: "undefined", crypto: "undefined", process: "undefined", TextEncoder: "function",
			TextDecoder: "function", setImmediate: "function", print: "function",
			performanceNow: "function", harden: "function", Compartment: "function",
		});
	});
});

xsTest("print goes to the worker's stdout", async (t) => {
	await withWorker(async (worker) => {
		await worker.evaluate("print('from XS', 1)");
		// stdout is a separate pipe from the replies: give it a moment to arrive
		for (let i = 0; i < 100 && !worker.stdout.includes("from XS"); i++) await new Promise((resolve) => setTimeout(resolve, 20));
		t.regex(worker.stdout, /from XS 1/);
	});
});

xsTest("an exception inside XS rejects with its text", async (t) => {
	await withWorker(async (worker) => {
		const error = await t.throwsAsync(worker.evaluate("throw new TypeError('boom in XS')"), { instanceOf: XsError });
		t.is(error?.message, "TypeError: boom in XS");
		await t.throwsAsync(worker.evaluateJson("null.property"), { instanceOf: XsError, message: /TypeError/ });
		await t.throwsAsync(worker.evaluateJson("syntax error here"), { instanceOf: XsError, message: /SyntaxError/ });
		t.is(await worker.evaluateJson("'still alive'"), "still alive");
	});
});

xsTest("a bundled module gives the same result in XS as on Node", async (t) => {
	const code = await bundleForXs("test-host/xs/fixtures/hello.ts");
	t.notRegex(code, /\brequire\(/);
	await withWorker(async (worker) => {
		await worker.evaluate(code);
		const inXs = await worker.evaluateJson<string>("__xs.run()");
		t.is(inXs, helloOnNode());
		t.is(inXs, Buffer.from("héllo ✓", "utf8").toString("base64url"));
	});
});

xsTest("globalName picks the global the exports land on", async (t) => {
	const code = await bundleForXs("test-host/xs/fixtures/hello.ts", { globalName: "hello" });
	await withWorker(async (worker) => {
		await worker.evaluate(code);
		t.is(await worker.evaluateJson("typeof __xs"), "undefined");
		t.is(await worker.evaluateJson("hello.run()"), helloOnNode());
	});
});

test("bundling an import of node:fs fails loudly", async (t) => {
	const error = await t.throwsAsync(bundleForXs("test-host/xs/fixtures/uses-node.ts"));
	t.regex(error?.message ?? "", /"node:fs" is a Node builtin, which does not exist in XS/);
	t.regex(error?.message ?? "", /uses-node\.ts/);
});

async function bundleSource(t: ExecutionContext, source: string): Promise<string> {
	const dir = await mkdtemp(path.join(tmpdir(), "xs-bundle-"));
	t.teardown(() => rm(dir, { recursive: true, force: true }));
	const entry = path.join(dir, "entry.ts");
	await writeFile(entry, source);
	return bundleForXs(entry);
}

test("bundling a bare Node builtin name fails loudly too", async (t) => {
	const error = await t.throwsAsync(bundleSource(t, 'import { EventEmitter } from "events";\nexport const e = new EventEmitter();\n'));
	t.regex(error?.message ?? "", /"events" is a Node builtin/);
});

/*
 * Promise jobs: xsnap-worker runs fxRunLoop after the eval and before replying, which drains the
 * promise job queue and setImmediate callbacks. So async work has finished within one evaluate.
 */
xsTest("promise jobs run to completion within one evaluate", async (t) => {
	await withWorker(async (worker) => {
		await worker.evaluate(`globalThis.state = "pending";
			(async () => { await null; await Promise.resolve(); state = "done"; })();
			setImmediate(() => { state += " + immediate"; });`);
		t.is(await worker.evaluateJson("state"), "done + immediate", "set by the next command: jobs ran before the reply");
		t.is(await worker.evaluateJson("(async () => { await null; return 'awaited'; })()"), "awaited");
		t.is(await worker.evaluateJson("new Promise((resolve) => setImmediate(() => resolve(7)))"), 7);
		await t.throwsAsync(worker.evaluateJson("Promise.reject(new RangeError('late'))"), { instanceOf: XsError, message: "RangeError: late" });
		await t.throwsAsync(worker.evaluateJson("new Promise(() => {})"), { instanceOf: XsError, message: /did not settle/ });
	});
});

xsTest("an async export of a bundle finishes within one evaluate", async (t) => {
	const code = await bundleForXs("test-host/xs/fixtures/hello.ts");
	await withWorker(async (worker) => {
		await worker.evaluate(code);
		t.is(await worker.evaluateJson("__xs.runLater()"), helloOnNode());
	});
});

xsTest("an unhandled rejection is reported on stderr, not as an exception", async (t) => {
	await withWorker(async (worker) => {
		const bytes = await worker.evaluate("Promise.reject(new Error('nobody listens')); undefined");
		t.is(bytes.byteLength, 0);
		t.is(await worker.evaluateJson("'still alive'"), "still alive");
		t.regex(worker.stderr, /Unhandled exception Error: nobody listens/);
	});
});

xsTest("workers are independent machines", async (t) => {
	const [a, b] = await Promise.all([XsWorker.start(), XsWorker.start()]);
	try {
		await a.evaluate("globalThis.who = 'a'");
		t.is(await b.evaluateJson("typeof who"), "undefined");
		const answers = await Promise.all([a.evaluateJson("who"), a.evaluateJson("1"), a.evaluateJson("2")]);
		t.deepEqual(answers, ["a", 1, 2], "concurrent calls are answered in order");
	}
	finally {
		await Promise.all([a.close(), b.close()]);
	}
});

xsTest("close() leaves no process behind", async (t) => {
	const worker = await XsWorker.start();
	const pid = worker.pid;
	if (pid === undefined) return t.fail("the worker has no pid");
	t.false(isGone(pid));
	await worker.close();
	t.true(isGone(pid));
	await worker.close(); // idempotent
	await t.throwsAsync(worker.evaluate("1"), { message: /xsnap-worker exited/ });
});

xsTest("a worker that dies rejects its pending commands", async (t) => {
	const worker = await XsWorker.start();
	const pid = worker.pid;
	if (pid === undefined) return t.fail("the worker has no pid");
	const pending = worker.evaluate("for (;;) {}");
	process.kill(pid, "SIGKILL");
	await t.throwsAsync(pending, { message: /xsnap-worker exited with code null, signal SIGKILL/ });
	await worker.close();
	t.true(isGone(pid));
});

/*
 * The updater inside the real XS engine (xsnap-worker): the same scenario on Node and in XS must
 * give the same summary, and the summary must show the update logic doing its job.
 */

import test from "ava";
import { canonicalBytes } from "../../src/ota/manifest";
import { generateSigningKey, signManifest } from "../ota/crypto";
import { bundleForXs } from "../xs/bundle";
import { IMAGE_SIZE, image, runOta, type OtaScenarioInput, type OtaSummary } from "../xs/ota-scenario";
import { XsWorker, requireXs } from "../xs/xsnap";

const xsTest = (await requireXs()) ? test : test.skip;

function input(): OtaScenarioInput {
	const keys = generateSigningKey();
	const manifest = signManifest({ image: image(), name: "esp32-sensor", version: "0.2.0", board: "esp32s3", url: "http://images.test/fw.bin" }, keys.privatePem);
	return { manifest: JSON.stringify(manifest), canonicalHex: Buffer.from(canonicalBytes(manifest)).toString("hex"), signature: manifest.signature, publicKey: keys.publicHex };
}

xsTest("the update logic gives the same result in XS as on Node: Range resume, signature refusal, digest mismatch", async (t) => {
	const data = input();
	const onNode = JSON.stringify(runOta(data));
	const worker = await XsWorker.start();
	let inXs: string;
	try {
		await worker.evaluate(await bundleForXs("test-host/xs/ota-scenario.ts", { globalName: "__ota" }));
		inXs = JSON.stringify(await worker.evaluateJson<OtaSummary>(`__ota.runOta(${JSON.stringify(data)})`));
	}
	finally {
		await worker.close();
	}
	t.is(inXs, onNode);
	const s = JSON.parse(inXs) as OtaSummary;
	t.true(s.canonicalMatches, "XS builds the bytes Node signed");
	t.deepEqual(s.requests.map((r) => r.head.replace(/ \| /g, " ")), [
		"GET /fw.bin HTTP/1.1", "GET /fw.bin HTTP/1.1 Range: bytes=12345-", "GET /fw.bin HTTP/1.1",
	]);
	const states = s.progress.map((p) => p.state);
	t.deepEqual(states.slice(0, 2), ["accepted", "downloading"]);
	t.true(states.includes("rebooting"));
	t.deepEqual(s.restarts, ["firmware update to 0.2.0"]);
	t.true(s.events.includes("ota.retry") && s.events.includes("ota.resuming"));
	t.is(s.reasons.length, 3);
	t.regex(s.reasons[0], /bad signature/);
	t.regex(s.reasons[1], /SHA-256 mismatch/);
	t.regex(s.reasons[2], /not valid JSON/);
	t.is(s.written, IMAGE_SIZE);
	t.like(JSON.parse(s.stored!), { v: "0.2.0", state: "rebooting", from: "0.1.0" });
});

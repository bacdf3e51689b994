/*
 * Provisioning's logic inside the real XS engine (xsnap): the same answers as on Node.
 */

import test from "ava";
import { bundleForXs } from "../xs/bundle";
import { XsWorker, requireXs } from "../xs/xsnap";
import { run as onNode } from "../provisioning/xs-fixture";

const xsTest = (await requireXs()) ? test : test.skip;

xsTest("form validation, access point password, captive DNS answer and claim answers: the same in XS as on Node", async (t) => {
	const code = await bundleForXs("test-host/provisioning/xs-fixture.ts");
	const worker = await XsWorker.start();
	try {
		await worker.evaluate(code);
		const inXs = await worker.evaluateJson<string>("__xs.run()");
		const node = onNode();
		t.is(inXs, node);
		const parsed = JSON.parse(node) as { bad: { ok: boolean; errors: Record<string, string> }; good: { ok: boolean }; proto: { ok: boolean } };
		t.false(parsed.bad.ok);
		t.deepEqual(Object.keys(parsed.bad.errors).sort(), ["authMode", "brokerUrl", "claimCode", "homeId", "password", "ssid"]);
		t.true(parsed.good.ok);
		t.false(parsed.proto.ok, "__proto__ is an unknown field, not a prototype");
	}
	finally {
		await worker.close();
	}
});

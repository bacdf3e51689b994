/*
 * Firmware updates end to end on the virtual clock: the embedded broker (aedes), a real node:http
 * image server on the simulated network, simulated devices with a two-slot flash and bootloader.
 */

import test from "ava";
import { OtaWorld, type OtaDevice } from "./helpers/ota";

async function setup(options: Parameters<OtaWorld["addDevice"]>[0] = {}): Promise<{ ow: OtaWorld; d: OtaDevice }> {
	const ow = await OtaWorld.create();
	const d = ow.addDevice(options);
	if (!(await ow.online(d))) throw new Error("device did not come online");
	await ow.world.run(1_000);
	return { ow, d };
}

test("a signed update downloads, reboots into the new version, confirms itself and reports succeeded", async (t) => {
	const { ow, d } = await setup();
	try {
		const { manifest } = ow.release("0.2.0");
		await ow.announce(d, manifest);
		t.true(await ow.world.runUntil(() => ow.states(d).includes("succeeded"), 10 * 60_000), `states: ${ow.states(d).join(",")}`);
		const states = ow.states(d);
		t.deepEqual(states.filter((s, i) => s !== states[i - 1]), ["accepted", "downloading", "verifying", "rebooting", "succeeded"]);
		const done = ow.progress(d).at(-1)!;
		t.like(done, { state: "succeeded", version: "0.2.0", from: "0.1.0" });
		t.is(d.sim.boots, 2);
		t.deepEqual(d.flash.boots.map((b) => [b.slot, b.header.version, b.pendingVerify]), [["ota_0", "0.1.0", false], ["ota_1", "0.2.0", true]]);
		t.is(d.flash.active.state, "valid", "marked valid");
		t.is(d.events("device.boot").at(-1)?.firmwareVersion, "0.2.0");
		const status = JSON.parse(ow.world.messages("/status").at(-1)!.payload);
		t.is(status.firmwareVersion ?? status.firmware?.version ?? JSON.stringify(status).match(/"firmwareVersion":"([^"]+)"/)?.[1], "0.2.0");
		t.true(d.events("queue.restored").length <= 1);
		t.true(d.log.events("led.pattern").some((r) => r.pattern === "updating"), "the LED showed the update");
		// The planned restart went through the restart path that keeps the queue.
		t.regex(d.sim.system.restarts[0], /firmware update to 0\.2\.0/);
	}
	finally {
		await ow.close();
	}
});

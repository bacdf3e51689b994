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

/** Runs a test against one online device, closing its world whatever happens. */
async function withOta(options: Parameters<OtaWorld["addDevice"]>[0], body: (w: { ow: OtaWorld; d: OtaDevice }) => Promise<void>): Promise<void> {
	const w = await setup(options);
	try {
		await body(w);
	}
	finally {
		await w.ow.close();
	}
}

/** True once the device has reported an update succeeded (within ten minutes of virtual time). */
function succeeded(ow: OtaWorld, d: OtaDevice): Promise<boolean> {
	return ow.world.runUntil(() => ow.states(d).includes("succeeded"), 10 * 60_000);
}

test("a signed update downloads, reboots into the new version, confirms itself and reports succeeded", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	await ow.announce(d, manifest);
	t.true(await succeeded(ow, d), `states: ${ow.states(d).join(",")}`);
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
}));

/** The running firmware is untouched: still the first boot, from the factory slot, marked valid. */
function untouched(t: import("ava").ExecutionContext, d: OtaDevice, version = "0.1.0"): void {
	t.is(d.sim.boots, 1, "no restart");
	t.is(d.flash.active.name, "ota_0");
	t.is(d.flash.active.state, "valid");
	t.is(d.sim.device.supervisor.state, "ONLINE", "still online");
	t.is(d.events("device.boot").at(-1)?.firmwareVersion, version);
	t.not(d.flash.updateSlot.state, "new", "the update slot is not set to boot");
}

test("one flipped byte: digest mismatch, refused after the download, the running firmware untouched; a good copy then installs", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	ow.server.faults.flipByte = 50_000;
	await ow.announce(d, manifest);
	t.true(await ow.world.runUntil(() => ow.states(d).includes("failed"), 120_000));
	await ow.world.run(30_000);
	const failed = ow.progress(d).find((p) => p.state === "failed")!;
	t.like(failed, { version: "0.2.0", bytes: manifest.size });
	t.regex(failed.reason!, /SHA-256 mismatch/);
	t.false(ow.states(d).includes("rebooting"));
	untouched(t, d);
	t.is(d.flash.updateSlot.state, "invalid");
	ow.server.faults = {};
	await ow.announce(d, manifest);
	t.true(await succeeded(ow, d));
	t.is(d.flash.boots.at(-1)?.header.version, "0.2.0");
}));

test("unsigned, wrongly signed and tampered manifests are refused before any download", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	const { signature: _dropped, ...unsigned } = manifest;
	const otherKey = (await import("../ota/crypto")).generateSigningKey();
	const { signManifest } = await import("../ota/crypto");
	const image = ow.server.files.get("/fw/0.2.0.bin")!;
	const foreign = signManifest({ image, name: manifest.name, version: "0.2.0", board: manifest.board, url: manifest.url }, otherKey.privatePem);
	const tampered = { ...manifest, size: manifest.size + 1 };
	const flipped = { ...manifest, signature: (manifest.signature[0] === "0" ? "1" : "0") + manifest.signature.slice(1) };
	for (const m of [unsigned, foreign, tampered, flipped, { ...manifest, allowDowngrade: true }]) await ow.announce(d, m);
	await ow.announce(d, "this is not json");
	await ow.world.run(5_000);
	const reasons = ow.progress(d).filter((p) => p.state === "failed").map((p) => p.reason!);
	t.is(reasons.length, 6);
	t.regex(reasons[0], /unsigned/);
	for (const r of reasons.slice(1, 5)) t.regex(r, /bad signature/);
	t.regex(reasons[5], /not valid JSON/);
	t.is(ow.server.requests.length, 0, "nothing was downloaded");
	t.is(d.events("ota.refused").length, 6);
	untouched(t, d);
}));

test("a manifest for another board or another firmware is refused", (t) => withOta({}, async ({ ow, d }) => {
	await ow.announce(d, ow.release("0.2.0", { header: { board: "esp32c3" } }).manifest);
	await ow.announce(d, ow.release("0.2.1", { header: { name: "other-firmware" } }).manifest);
	await ow.world.run(5_000);
	const reasons = ow.progress(d).map((p) => `${p.state} ${p.reason}`);
	t.is(reasons.length, 2);
	t.regex(reasons[0], /^failed .*board "esp32c3", this is "esp32s3"/);
	t.regex(reasons[1], /^failed .*"other-firmware" is not this device's/);
	t.is(ow.server.requests.length, 0);
	untouched(t, d);
}));

test("a downgrade is refused unless the signed manifest allows it; the same version is ignored", (t) => withOta({ version: "0.3.0" }, async ({ ow, d }) => {
	await ow.announce(d, ow.release("0.3.0").manifest);
	await ow.announce(d, ow.release("0.2.0").manifest);
	await ow.world.run(5_000);
	t.is(d.events("ota.up_to_date").length, 1);
	const [refused] = ow.progress(d);
	t.like(refused, { state: "failed", version: "0.2.0" });
	t.regex(refused.reason!, /downgrade from 0\.3\.0 to 0\.2\.0 refused/);
	untouched(t, d, "0.3.0");
	await ow.announce(d, ow.release("0.2.0", { allowDowngrade: true, path: "/fw/0.2.0-rollback.bin" }).manifest);
	t.true(await succeeded(ow, d));
	t.like(ow.progress(d).at(-1), { state: "succeeded", version: "0.2.0", from: "0.3.0" });
}));

test("an image larger than the update partition is refused before the download", (t) => withOta({ capacity: 64 * 1024 }, async ({ ow, d }) => {
	await ow.announce(d, ow.release("0.2.0", { size: 64 * 1024 + 1 }).manifest);
	await ow.world.run(5_000);
	t.regex(ow.progress(d)[0].reason!, /65537 bytes does not fit the 65536-byte update partition/);
	t.is(ow.server.requests.length, 0);
	untouched(t, d);
}));

test("a connection cut mid-download resumes with Range requests and completes", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	ow.server.faults.cut = { afterBytes: 30_000, times: 2 };
	await ow.announce(d, manifest);
	t.true(await succeeded(ow, d), ow.states(d).join(","));
	t.deepEqual(ow.server.requests.map((r) => [r.range, r.status, r.bytes]), [[undefined, 200, 30_000], ["bytes=30000-", 206, 30_000], ["bytes=60000-", 206, manifest.size - 60_000]]);
	const retries = d.events("ota.retry");
	t.is(retries.length, 2);
	t.true(retries.every((r) => (r.inMs as number) >= 1_000), "backoff before each retry");
	t.is(d.events("ota.resuming").length, 2);
}));

test("a server that ignores Range: the download starts again from byte 0 and the digest still matches", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	ow.server.faults = { cut: { afterBytes: 40_000, times: 1 }, ignoreRange: true };
	await ow.announce(d, manifest);
	t.true(await succeeded(ow, d));
	t.deepEqual(ow.server.requests.map((r) => r.status), [200, 200]);
	t.is(d.events("ota.range_ignored").length, 1);
}));

test("a download that never completes fails after bounded retries; MQTT keeps working meanwhile", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	ow.server.faults.stallAt = 20_000;
	await ow.announce(d, manifest);
	await ow.world.runUntil(() => ow.states(d).includes("downloading") && d.events("ota.retry").length >= 1, 60_000);
	const telemetryBefore = ow.world.messages("/telemetry").length;
	const base = d.sim.device.topics.status.replace(/\/status$/, "");
	await ow.world.inject(`${base}/command/SET_POWER`, { commandId: "during-ota", payload: { power: true } });
	t.true(await ow.world.runUntil(() => ow.states(d).includes("failed"), 30 * 60_000));
	const failed = ow.progress(d).find((p) => p.state === "failed")!;
	t.regex(failed.reason!, /did not complete after 6 attempts .*no data for 10 s/);
	t.is(ow.server.requests.length, 6);
	t.is(d.sim.power.level, 1, "a command was obeyed during the download");
	t.like(JSON.parse(ow.world.messages("/command_response")[0].payload), { commandId: "during-ota", status: "ok" });
	t.true(ow.world.messages("/telemetry").length > telemetryBefore, "telemetry went on");
	untouched(t, d);
	t.is(d.sim.device.supervisor.state, "ONLINE");
	t.false(d.log.events("led.pattern").at(-1)?.pattern === "updating", "the LED is back to the connection's pattern");
}));

test("power lost mid-write: the partly written slot never boots, the old firmware reports failed and can update later", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	ow.server.faults.stallAt = 40_000;
	await ow.announce(d, manifest);
	t.true(await ow.world.runUntil(() => d.flash.updateSlot.written >= 40_000, 60_000));
	t.is(d.flash.updateSlot.state, "writing");
	d.sim.halt();
	ow.server.faults = {};
	d.sim.boot();
	t.true(await ow.online(d));
	await ow.world.run(2_000);
	t.deepEqual(d.flash.boots.map((b) => b.header.version), ["0.1.0", "0.1.0"]);
	const failed = ow.progress(d).find((p) => p.state === "failed")!;
	t.like(failed, { version: "0.2.0" });
	t.regex(failed.reason!, /restart interrupted the download/);
	t.not(d.flash.updateSlot.state, "new");
	await ow.announce(d, manifest);
	t.true(await succeeded(ow, d));
	t.is(d.flash.boots.at(-1)?.header.version, "0.2.0");
}));

test("new firmware that cannot connect rolls itself back; the old firmware reports rolled_back with the reason and refuses that image again", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0", { header: { fault: "cannot-connect" } });
	await ow.announce(d, manifest);
	t.true(await ow.world.runUntil(() => ow.states(d).includes("rolled_back"), 20 * 60_000), ow.states(d).join(","));
	t.deepEqual(d.flash.boots.map((b) => [b.slot, b.header.version, b.pendingVerify]), [["ota_0", "0.1.0", false], ["ota_1", "0.2.0", true], ["ota_0", "0.1.0", false]]);
	const rolled = ow.progress(d).find((p) => p.state === "rolled_back")!;
	t.like(rolled, { version: "0.2.0", from: "0.1.0" });
	t.regex(rolled.reason!, /no lasting connection to the broker within 120 s of the first boot.*went back to 0\.1\.0/);
	t.is(d.events("device.boot").at(-1)?.firmwareVersion, "0.1.0");
	t.is(d.flash.slots[1].state, "invalid");
	await ow.announce(d, manifest);
	await ow.world.run(5_000);
	t.regex(ow.progress(d).at(-1)!.reason!, /installed before and rolled back/);
	t.is(d.flash.boots.length, 3);
}));

test("new firmware that resets before confirming is rolled back by the bootloader; the old one reports why", (t) => withOta({}, async ({ ow, d }) => {
	await ow.announce(d, ow.release("0.2.0").manifest);
	t.true(await ow.world.runUntil(() => d.flash.boots.length === 2 && d.sim.device.supervisor.state === "ONLINE", 10 * 60_000));
	t.true(d.flash.bootControl.pendingVerify());
	// A crash before the confirmation time: the board resets.
	d.sim.halt();
	d.sim.boot();
	t.true(await ow.world.runUntil(() => ow.states(d).includes("rolled_back"), 120_000));
	t.is(d.flash.boots.at(-1)?.rolledBack, "ota_1");
	t.regex(ow.progress(d).find((p) => p.state === "rolled_back")!.reason!, /did not confirm itself/);
	t.false(ow.states(d).includes("succeeded"));
}));

test("two announcements at once: the second is refused while the first runs; a repeat of the first is ignored", (t) => withOta({}, async ({ ow, d }) => {
	const first = ow.release("0.2.0").manifest;
	const second = ow.release("0.3.0").manifest;
	await ow.announce(d, first);
	await ow.announce(d, second);
	await ow.announce(d, first);
	t.true(await succeeded(ow, d));
	const refused = ow.progress(d).find((p) => p.version === "0.3.0")!;
	t.like(refused, { state: "failed" });
	t.regex(refused.reason!, /already running \(to 0\.2\.0\)/);
	t.is(d.events("ota.duplicate").length, 1);
	t.is(ow.progress(d).filter((p) => p.state === "accepted").length, 1);
	t.is(ow.progress(d).at(-1)?.version, "0.2.0");
	t.is(ow.server.requests.filter((r) => r.path === "/fw/0.3.0.bin").length, 0);
}));

test("the URL is not signed: a re-hosted, pre-signed link works, and its query (a token) never reaches the log", (t) => withOta({}, async ({ ow, d }) => {
	const { manifest } = ow.release("0.2.0");
	await ow.announce(d, { ...manifest, url: `${manifest.url}?X-Amz-Signature=s3cr3t-token` });
	t.true(await succeeded(ow, d));
	t.is(ow.server.requests[0].path, "/fw/0.2.0.bin");
	t.false(JSON.stringify(d.log.records).includes("s3cr3t"), "no record carries the token");
	t.regex(String(d.events("ota.accepted")[0].url), /0\.2\.0\.bin\?…$/);
}));

/*
 * The operator's publish: puts a signed manifest on one device's ota/firmware topic or on the
 * fleet topic (retained), then follows ota/progress until every targeted device has succeeded,
 * failed or rolled back (or the time is up), and sums up.
 *
 * Progress reports are matched on the manifest's version; one line per device and state change,
 * and an aggregate bar. The MQTT client is MQTT.js (the operator's side is a plain Node tool).
 */

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import type { FirmwareManifest } from "../../src/ota/manifest";
import type { TopicScheme } from "../../src/settings";
import { otaProgressFilter, otaTopics } from "../../src/topics";

export type PublishTarget = { device: string } | { fleet: true; expect: number };

export interface PublishOptions {
	manifest: FirmwareManifest;
	broker: string;
	username?: string;
	password?: string;
	/** CA certificate (PEM) for mqtts://. */
	ca?: string;
	scheme: TopicScheme;
	tenantId?: string;
	homeId?: string;
	target: PublishTarget;
	timeoutMs: number;
	/** Where lines go (stderr by default). */
	out?: (line: string) => void;
}

export interface DeviceOutcome {
	device: string;
	state: string;
	percent: number;
	reason?: string;
}

export interface PublishSummary {
	topic: string;
	devices: DeviceOutcome[];
	succeeded: number;
	failed: number;
	rolledBack: number;
	/** Targeted devices that had not finished when the time ran out (including never heard of). */
	unfinished: number;
	ok: boolean;
}

const TERMINAL = new Set(["succeeded", "failed", "rolled_back"]);

export function progressBar(done: number, total: number, width = 30): string {
	const filled = total > 0 ? Math.round((done / total) * width) : 0;
	return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`;
}

export async function publishUpdate(o: PublishOptions): Promise<PublishSummary> {
	const out = o.out ?? ((line: string) => process.stderr.write(line + "\n"));
	const ids = { tenantId: o.tenantId ?? "default", homeId: o.homeId ?? "home1", deviceId: "", clientId: "", mac: "" };
	const fleet = "fleet" in o.target;
	const device = "device" in o.target ? o.target.device : "";
	const topics = otaTopics(o.scheme, { ...ids, deviceId: device || "+", clientId: device || "+" });
	const topic = fleet ? topics.fleet : topics.firmware;
	const filter = fleet ? otaProgressFilter(o.scheme) : topics.progress;
	const expect = fleet ? (o.target as { expect: number }).expect : 1;
	const devices = new Map<string, DeviceOutcome>();
	const clientOptions: IClientOptions = { clean: true, reconnectPeriod: 0, connectTimeout: 10_000, clientId: `ota-publish-${process.pid}-${Date.now() % 100000}` };
	if (o.username) clientOptions.username = o.username;
	if (o.password) clientOptions.password = o.password;
	if (o.ca) clientOptions.ca = o.ca;
	const client: MqttClient = await mqtt.connectAsync(o.broker, clientOptions);
	let lastBar = "";
	const bar = () => {
		const list = [...devices.values()];
		const done = list.filter((d) => TERMINAL.has(d.state)).length;
		const count = (s: string) => list.filter((d) => d.state === s).length;
		const line = `${progressBar(done, expect)} done: ${count("succeeded")} ok, ${count("failed")} failed, ${count("rolled_back")} rolled back; ${count("downloading")} downloading`;
		if (line !== lastBar) out(line);
		lastBar = line;
	};
	try {
		const finished = new Promise<void>((resolve) => {
			const timer = setTimeout(resolve, o.timeoutMs);
			client.on("message", (_topic, payload) => {
				let report: { deviceId?: string; state?: string; version?: string; percent?: number; reason?: string };
				try {
					report = JSON.parse(payload.toString());
				}
				catch {
					return;
				}
				if (report.version !== o.manifest.version || typeof report.state !== "string") return;
				const name = String(report.deviceId ?? _topic);
				const before = devices.get(name);
				if (before && TERMINAL.has(before.state)) return;
				const entry: DeviceOutcome = { device: name, state: report.state, percent: report.percent ?? 0 };
				if (report.reason) entry.reason = report.reason;
				devices.set(name, entry);
				if (before?.state !== report.state) out(`${name}: ${report.state}${report.state === "downloading" ? ` ${entry.percent}%` : ""}${report.reason ? ` (${report.reason})` : ""}`);
				bar();
				if ([...devices.values()].filter((d) => TERMINAL.has(d.state)).length >= expect) {
					clearTimeout(timer);
					resolve();
				}
			});
		});
		await client.subscribeAsync(filter, { qos: 1 });
		await client.publishAsync(topic, JSON.stringify(o.manifest), { qos: 1, retain: fleet });
		out(`published ${o.manifest.name} ${o.manifest.version} (${o.manifest.size} bytes) on ${topic}${fleet ? " (retained)" : ""}; waiting for ${expect} device(s)`);
		await finished;
	}
	finally {
		await client.endAsync();
	}
	const list = [...devices.values()];
	const count = (s: string) => list.filter((d) => d.state === s).length;
	const summary: PublishSummary = {
		topic,
		devices: list,
		succeeded: count("succeeded"),
		failed: count("failed"),
		rolledBack: count("rolled_back"),
		unfinished: expect - list.filter((d) => TERMINAL.has(d.state)).length,
		ok: false,
	};
	summary.ok = summary.succeeded >= expect && summary.failed === 0 && summary.rolledBack === 0;
	out(`summary: ${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.rolledBack} rolled back, ${Math.max(0, summary.unfinished)} unfinished`);
	for (const d of list) if (d.state !== "succeeded") out(`  ${d.device}: ${d.state}${d.reason ? ` — ${d.reason}` : ""}`);
	return summary;
}

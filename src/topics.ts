/*
 * Topics: three presets selected by configuration, each a set of templates with the
 * placeholders {homeId}, {deviceId}, {tenantId}, {clientId} and {mac}.
 *
 * - smarthome: smarthome/{homeId}/{deviceId}/telemetry|status|heartbeat, commands and config in.
 * - tenant:    tenant/{tenantId}/device/{clientId}/status|alert|alert_cleared, command/# in.
 * - sensor:    {clientId}/temperature, {clientId}/humidity, ..., {clientId}/light/control in.
 *
 * Firmware updates (src/ota/): every scheme has <base>/ota/firmware (in), <base>/ota/progress (out)
 * and a fleet topic whose retained manifest every device of the scheme reads: global/firmware/latest
 * (tenant and sensor schemes, as the backend's seed has it), smarthome/{homeId}/firmware/latest.
 *
 * {clientId} is always the stable id, never the per-boot variant, so topics survive reboots.
 */

import type { TopicScheme } from "./settings";
import { deepFreeze } from "frozen";

export interface TopicIds {
	homeId: string;
	deviceId: string;
	tenantId: string;
	clientId: string;
	/** MAC without separators, upper case. */
	mac: string;
}

export type InboundKind = "commands" | "config" | "light";

export interface TopicPlan {
	scheme: TopicScheme;
	telemetry: string;
	status: string;
	heartbeat: string;
	alert: string;
	alertCleared: string;
	response: string;
	/** Sensor scheme: one topic per value with a plain number as payload. */
	values?: { temperature: string; humidity: string };
	/** Topic filters to subscribe to. */
	subscriptions: { filter: string; kind: InboundKind }[];
	/** Firmware updates: the device's announcement topic, the fleet's (retained) and progress out. */
	ota: OtaTopics;
}

export interface OtaTopics {
	firmware: string;
	fleet: string;
	progress: string;
}

interface Preset {
	telemetry: string;
	status: string;
	heartbeat: string;
	alert: string;
	alertCleared: string;
	response: string;
	values?: { temperature: string; humidity: string };
	subscriptions: { filter: string; kind: InboundKind }[];
	ota: OtaTopics;
}

/** The topics every scheme publishes, under a base path. */
function underBase(base: string, response: string, subscriptions: [string, InboundKind][], fleet: string): Preset {
	return {
		ota: { firmware: `${base}/ota/firmware`, fleet, progress: `${base}/ota/progress` },
		telemetry: `${base}/telemetry`,
		status: `${base}/status`,
		heartbeat: `${base}/heartbeat`,
		alert: `${base}/alert`,
		alertCleared: `${base}/alert_cleared`,
		response: `${base}/${response}`,
		subscriptions: subscriptions.map(([level, kind]) => ({ filter: `${base}/${level}`, kind })),
	};
}

const FLEET = "global/firmware/latest";

const PRESETS: Record<TopicScheme, Preset> = deepFreeze({
	smarthome: underBase("smarthome/{homeId}/{deviceId}", "responses", [["commands", "commands"], ["config", "config"]], "smarthome/{homeId}/firmware/latest"),
	tenant: underBase("tenant/{tenantId}/device/{clientId}", "command_response", [["command/#", "commands"], ["config", "config"]], FLEET),
	sensor: {
		...underBase("{clientId}", "response", [["light/control", "light"], ["commands", "commands"], ["config", "config"]], FLEET),
		values: { temperature: "{clientId}/temperature", humidity: "{clientId}/humidity" },
	},
});

/** Replaces {placeholders}; an unknown placeholder is an error rather than a silent literal. */
export function expandTemplate(template: string, ids: TopicIds): string {
	return template.replace(/\{([A-Za-z]+)\}/g, (_match, name: string) => {
		const value = (ids as unknown as Record<string, string | undefined>)[name];
		if (value === undefined) throw new RangeError(`unknown topic placeholder {${name}} in ${template}`);
		return value;
	});
}

export function planTopics(scheme: TopicScheme, ids: TopicIds): TopicPlan {
	const p = PRESETS[scheme];
	const x = (t: string) => expandTemplate(t, ids);
	const plan: TopicPlan = {
		scheme,
		telemetry: x(p.telemetry),
		status: x(p.status),
		heartbeat: x(p.heartbeat),
		alert: x(p.alert),
		alertCleared: x(p.alertCleared),
		response: x(p.response),
		subscriptions: p.subscriptions.map((s) => ({ filter: x(s.filter), kind: s.kind })),
		ota: { firmware: x(p.ota.firmware), fleet: x(p.ota.fleet), progress: x(p.ota.progress) },
	};
	if (p.values) plan.values = { temperature: x(p.values.temperature), humidity: x(p.values.humidity) };
	return plan;
}

/** Which subscription a received topic belongs to, and the rest of the topic after a # filter. */
export function classifyTopic(plan: TopicPlan, topic: string): { kind: InboundKind; rest?: string } | undefined {
	for (const s of plan.subscriptions) {
		if (s.filter.endsWith("/#")) {
			const base = s.filter.slice(0, -1);
			if (topic.startsWith(base) && topic.length > base.length) return { kind: s.kind, rest: topic.slice(base.length) };
			if (topic === s.filter.slice(0, -2)) return { kind: s.kind };
		}
		else if (topic === s.filter) return { kind: s.kind };
	}
	return undefined;
}

/** The filter matching every device's OTA progress topic in a scheme (each placeholder a +). */
export function otaProgressFilter(scheme: TopicScheme): string {
	return PRESETS[scheme].ota.progress.replace(/\{[A-Za-z]+\}/g, "+");
}

/** A scheme's OTA topics for one device (or the fleet topic) without a running device. */
export function otaTopics(scheme: TopicScheme, ids: TopicIds): OtaTopics {
	return planTopics(scheme, ids).ota;
}

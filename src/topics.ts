/*
 * Topics: three presets selected by configuration, each a set of templates with the
 * placeholders {homeId}, {deviceId}, {tenantId}, {clientId} and {mac}.
 *
 * - smarthome: smarthome/{homeId}/{deviceId}/telemetry|status|heartbeat, commands and config in.
 * - tenant:    tenant/{tenantId}/device/{clientId}/status|alert|alert_cleared, command/# in.
 * - sensor:    {clientId}/temperature, {clientId}/humidity, ..., {clientId}/light/control in.
 *
 * {clientId} is always the stable id, never the per-boot variant, so topics survive reboots.
 */

import type { TopicScheme } from "./settings";

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
}

const PRESETS: Record<TopicScheme, Preset> = {
	smarthome: {
		telemetry: "smarthome/{homeId}/{deviceId}/telemetry",
		status: "smarthome/{homeId}/{deviceId}/status",
		heartbeat: "smarthome/{homeId}/{deviceId}/heartbeat",
		alert: "smarthome/{homeId}/{deviceId}/alert",
		alertCleared: "smarthome/{homeId}/{deviceId}/alert_cleared",
		response: "smarthome/{homeId}/{deviceId}/responses",
		subscriptions: [
			{ filter: "smarthome/{homeId}/{deviceId}/commands", kind: "commands" },
			{ filter: "smarthome/{homeId}/{deviceId}/config", kind: "config" },
		],
	},
	tenant: {
		telemetry: "tenant/{tenantId}/device/{clientId}/telemetry",
		status: "tenant/{tenantId}/device/{clientId}/status",
		heartbeat: "tenant/{tenantId}/device/{clientId}/heartbeat",
		alert: "tenant/{tenantId}/device/{clientId}/alert",
		alertCleared: "tenant/{tenantId}/device/{clientId}/alert_cleared",
		response: "tenant/{tenantId}/device/{clientId}/command_response",
		subscriptions: [
			{ filter: "tenant/{tenantId}/device/{clientId}/command/#", kind: "commands" },
			{ filter: "tenant/{tenantId}/device/{clientId}/config", kind: "config" },
		],
	},
	sensor: {
		telemetry: "{clientId}/telemetry",
		status: "{clientId}/status",
		heartbeat: "{clientId}/heartbeat",
		alert: "{clientId}/alert",
		alertCleared: "{clientId}/alert_cleared",
		response: "{clientId}/response",
		values: { temperature: "{clientId}/temperature", humidity: "{clientId}/humidity" },
		subscriptions: [
			{ filter: "{clientId}/light/control", kind: "light" },
			{ filter: "{clientId}/commands", kind: "commands" },
			{ filter: "{clientId}/config", kind: "config" },
		],
	},
};

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

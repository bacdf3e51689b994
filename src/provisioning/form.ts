/*
 * The setup form: its fields, their mapping onto the configuration, and validation with the
 * configuration schema's own rules (src/settings.ts), each error keyed by the form field it
 * belongs to so the page shows it next to that field.
 *
 * Secrets (WiFi password, MQTT password, JWT secret) are never sent back to the page: view()
 * omits them, and an empty secret field keeps the current value (for the WiFi password only
 * while the network stays the same).
 */

import { deepFreeze } from "frozen";
import { WPA_PASSPHRASE, WPA_PASSPHRASE_HINT, hasOwn, validateConfig, type DeviceConfig } from "../settings";

export type FieldName =
	| "ssid" | "password" | "brokerUrl" | "authMode" | "username" | "mqttPassword" | "jwtSecret"
	| "homeId" | "deviceId" | "tenantId" | "claimCode" | "claimUrl";

/** Form field -> configuration path. */
const PATHS: Record<Exclude<FieldName, "claimCode">, readonly [string, string]> = deepFreeze({
	ssid: ["wifi", "ssid"],
	password: ["wifi", "password"],
	brokerUrl: ["mqtt", "url"],
	authMode: ["auth", "mode"],
	username: ["auth", "username"],
	mqttPassword: ["auth", "password"],
	jwtSecret: ["auth", "jwtSecret"],
	homeId: ["device", "homeId"],
	deviceId: ["device", "deviceId"],
	tenantId: ["device", "tenantId"],
	claimUrl: ["provisioning", "claimUrl"],
});

/** Configuration paths that have no field of their own, shown with this one. */
const RELATED: Record<string, FieldName> = deepFreeze({
	"mqtt.ca": "brokerUrl",
	"auth.jwtRefresh": "jwtSecret",
	"auth.jwtTtl": "jwtSecret",
});

const SECRETS: readonly FieldName[] = deepFreeze(["password", "mqttPassword", "jwtSecret"]);

export const CLAIM_CODE = /^[A-Za-z0-9-]{4,64}$/;

export interface SetupSubmission {
	/** The configuration patch setup stores (wifi, mqtt.url, auth, device, provisioning.claimUrl). */
	patch: Record<string, Record<string, unknown>>;
	/** The whole configuration it gives. */
	config: DeviceConfig;
	claimCode?: string;
}

export type FormErrors = Partial<Record<FieldName | "form", string>>;

export type FormResult = { ok: true; value: SetupSubmission } | { ok: false; errors: FormErrors };

function fieldOf(path: string): FieldName | "form" {
	for (const name of Object.keys(PATHS) as (keyof typeof PATHS)[]) if (PATHS[name].join(".") === path) return name;
	return hasOwn(RELATED, path) ? RELATED[path] : "form";
}

/** Checks a submitted form (a JSON object of strings) against `base`, the configuration in use. */
export function validateSetupForm(input: unknown, base: DeviceConfig): FormResult {
	if (!input || typeof input !== "object" || Array.isArray(input)) return { ok: false, errors: { form: "the form must be a JSON object" } };
	const form = input as Record<string, unknown>;
	const errors: FormErrors = {};
	const patch: Record<string, Record<string, unknown>> = {};
	for (const name of Object.keys(form)) {
		if (name === "claimCode") continue;
		if (!hasOwn(PATHS, name)) {
			errors.form = `unknown field "${name.slice(0, 32)}"`;
			continue;
		}
		const raw = form[name];
		if (typeof raw !== "string") {
			errors[name as FieldName] = "must be text";
			continue;
		}
		const value = SECRETS.indexOf(name as FieldName) >= 0 ? raw : raw.trim();
		if (value === "" && SECRETS.indexOf(name as FieldName) >= 0) continue; // keep the current secret
		const [section, key] = PATHS[name as keyof typeof PATHS];
		(patch[section] ??= {})[key] = value;
	}
	const ssid = patch.wifi?.ssid;
	if (typeof ssid !== "string" || !ssid) errors.ssid ??= "required: the network to join";
	// A new network with the password left empty is an open network, not the old network's password.
	else if (ssid !== base.wifi.ssid && patch.wifi.password === undefined) patch.wifi.password = "";
	const wifiPassword = patch.wifi?.password;
	if (typeof wifiPassword === "string" && !WPA_PASSPHRASE.test(wifiPassword)) errors.password = `must be ${WPA_PASSPHRASE_HINT}`;

	const claimCode = typeof form.claimCode === "string" ? form.claimCode.trim() : form.claimCode;
	if (claimCode !== undefined && claimCode !== "") {
		if (typeof claimCode !== "string" || !CLAIM_CODE.test(claimCode)) errors.claimCode = "must be 4 to 64 letters, digits or '-'";
		// Claimed credentials are a user name and password.
		else (patch.auth ??= {}).mode = "password";
	}

	const checked = validateConfig(patch, base);
	for (const line of checked.errors) {
		const at = line.indexOf(": ");
		const field = fieldOf(at > 0 ? line.slice(0, at) : "");
		const text = at > 0 ? line.slice(at + 2) : line;
		if (!errors[field]) errors[field] = text;
	}
	const config = checked.value;
	if (typeof claimCode === "string" && claimCode && !errors.claimCode && !config.provisioning.claimUrl && !errors.claimUrl)
		errors.claimUrl = "required with a claim code: the backend's claim address";
	if (!claimCode && config.auth.mode === "password" && !config.auth.password && !errors.mqttPassword)
		errors.mqttPassword = "required for auth mode \"password\" (or give a claim code)";
	if (Object.keys(errors).length) return { ok: false, errors };
	const value: SetupSubmission = { patch, config };
	if (typeof claimCode === "string" && claimCode) value.claimCode = claimCode;
	return { ok: true, value };
}

/** What the page may show of the configuration in use: every field but the secrets, and which secrets are set. */
export function formView(config: DeviceConfig): { values: Record<string, string>; secretsSet: string[] } {
	const values: Record<string, string> = {};
	const secretsSet: string[] = [];
	for (const name of Object.keys(PATHS) as (keyof typeof PATHS)[]) {
		const [section, key] = PATHS[name];
		const value = String((config as unknown as Record<string, Record<string, unknown>>)[section][key] ?? "");
		if (SECRETS.indexOf(name) >= 0) {
			if (value) secretsSet.push(name);
		}
		else values[name] = value;
	}
	return { values, secretsSet };
}

/** The stored setup patch merged over the build configuration (invalid stored values are reported, not used). */
export function applySetupPatch(base: DeviceConfig, stored: unknown): { config: DeviceConfig; errors: string[] } {
	if (stored === undefined) return { config: base, errors: [] };
	const checked = validateConfig(stored, base, { unknownKeys: "ignore" });
	return checked.errors.length ? { config: base, errors: checked.errors } : { config: checked.value, errors: [] };
}

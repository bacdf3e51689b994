/*
 * The device configuration: its shape, its defaults, and validation field by field.
 *
 * One schema serves the build-time configuration (mc/config on the board, --config FILE on the
 * host) and the remote configuration a backend sends; a bad value is reported with its path and
 * the rule it broke, and never replaces a good one.
 */

import { deepFreeze } from "frozen";

export type AuthMode = "jwt" | "password" | "none";
export type TopicScheme = "smarthome" | "tenant" | "sensor";
export type SensorModel = "dht22" | "dht11" | "none";

export interface DeviceConfig {
	device: {
		/** Topic placeholder {homeId}. */
		homeId: string;
		/** Topic placeholder {deviceId}; empty means the client id. */
		deviceId: string;
		/** Topic placeholder {tenantId}. */
		tenantId: string;
	};
	wifi: {
		ssid: string;
		password: string;
		/** Seconds before the first rejoin after a drop; doubles up to retryMax. */
		retryMin: number;
		retryMax: number;
	};
	time: {
		servers: string[];
		/** Seconds between SNTP resyncs. */
		resync: number;
		/** Seconds between attempts while the clock is not set. */
		retry: number;
		/** A resync that moves the clock by more than this many seconds counts as a jump (fresh JWT). */
		jumpThreshold: number;
		/** Without JWT, seconds to wait for SNTP before connecting anyway (timestamps are null until then). */
		wait: number;
	};
	mqtt: {
		/** mqtt://host:port or mqtts://host:port */
		url: string;
		protocolVersion: 4 | 5;
		keepAlive: number;
		socketTimeout: number;
		bufferSize: number;
		inflightWindow: number;
		cleanSession: boolean;
		/** MQTT 5 Session Expiry Interval in seconds (0: the session ends with the connection). */
		sessionExpiry: number;
		/** CA certificate for mqtts:// (PEM text on the host; a resource name or PEM on the board). */
		ca: string;
		/** Host name checked against the server certificate; empty means the URL's host. */
		serverName: string;
		clientIdPrefix: string;
		/** "boot" appends _<millis> once per boot, for brokers where ids collide. */
		clientIdSuffix: "none" | "boot";
		/** Telemetry QoS. */
		qos: 0 | 1;
		/** Seconds; the floor between connection attempts. */
		backoffMin: number;
		/** Seconds; the cap of the exponential backoff. */
		backoffMax: number;
		/** Seconds a connection must stay up before the backoff resets. */
		backoffReset: number;
		/** Minutes without an MQTT connection before the device restarts; 0 disables. */
		watchdog: number;
		/** Telemetry messages kept while offline. */
		outboxSize: number;
	};
	auth: {
		mode: AuthMode;
		jwtSecret: string;
		jwtIssuer: string;
		jwtAudience: string;
		/** Token lifetime in seconds (exp = iat + ttl). */
		jwtTtl: number;
		/** Seconds between planned reconnects with a fresh token. */
		jwtRefresh: number;
		/** MQTT user name; for JWT, empty means the client id. */
		username: string;
		/** MQTT password for password mode (the persisted credentials win once rotated). */
		password: string;
	};
	telemetry: {
		/** Seconds between readings published (remote: sampleRate). */
		interval: number;
		/** Seconds between heartbeats. */
		heartbeat: number;
	};
	topics: {
		scheme: TopicScheme;
	};
	sensor: {
		model: SensorModel;
	};
	alerts: {
		/** Thresholds; null disables one. */
		temperature: number | null;
		humidity: number | null;
		gas: number | null;
		/** How far below the threshold a value must return to clear the alert. */
		temperatureHysteresis: number;
		humidityHysteresis: number;
	};
	powerSaving: boolean;
	/** Setup mode and claiming (src/provisioning/, docs/provisioning.md). */
	provisioning: {
		/** The backend's claim endpoint (http:// or https://); empty: no claiming. */
		claimUrl: string;
		/** Minutes without joining the stored network before the device opens setup mode; 0 never. */
		setupAfter: number;
		/** Build-time secret from which each board's access point password is derived (HMAC of the MAC). */
		apSecret: string;
	};
}

export function defaultConfig(): DeviceConfig {
	return {
		device: { homeId: "home1", deviceId: "", tenantId: "default" },
		wifi: { ssid: "", password: "", retryMin: 2, retryMax: 60 },
		time: { servers: ["pool.ntp.org", "time.google.com", "time.cloudflare.com"], resync: 3600, retry: 10, jumpThreshold: 60, wait: 30 },
		mqtt: {
			url: "mqtt://127.0.0.1:1883",
			protocolVersion: 4,
			keepAlive: 60,
			socketTimeout: 30,
			bufferSize: 1024,
			inflightWindow: 8,
			cleanSession: true,
			sessionExpiry: 0,
			ca: "",
			serverName: "",
			clientIdPrefix: "sensor_",
			clientIdSuffix: "none",
			qos: 1,
			backoffMin: 10,
			backoffMax: 300,
			backoffReset: 60,
			watchdog: 15,
			outboxSize: 20,
		},
		auth: {
			mode: "jwt",
			jwtSecret: "emqx-dev-secret-change-me",
			jwtIssuer: "esp32-sensor",
			jwtAudience: "emqx",
			jwtTtl: 3600,
			jwtRefresh: 1800,
			username: "",
			password: "",
		},
		telemetry: { interval: 30, heartbeat: 60 },
		topics: { scheme: "smarthome" },
		sensor: { model: "dht22" },
		alerts: { temperature: 35, humidity: 80, gas: 800, temperatureHysteresis: 1, humidityHysteresis: 3 },
		powerSaving: false,
		provisioning: { claimUrl: "", setupAfter: 10, apSecret: "sensor-setup-dev-secret" },
	};
}

/* ----------------------------------------------------------------------------------------- */
/* Schema                                                                                     */

type Spec =
	| { kind: "string"; max: number; min?: number; pattern?: RegExp; hint?: string }
	| { kind: "url"; max: number }
	| { kind: "int"; min: number; max: number }
	| { kind: "number"; min: number; max: number; nullable?: boolean }
	| { kind: "bool" }
	| { kind: "enum"; values: readonly (string | number)[] }
	| { kind: "strings"; maxItems: number; maxLength: number }
	| { kind: "section"; fields: Record<string, Spec> };

const HTTP_URL = /^(https?:\/\/[^/\s:]+(:\d{1,5})?(\/\S*)?)?$/;
const TOPIC_LEVEL = /^[^/+#\u0000]*$/;
const ID: Spec = deepFreeze({ kind: "string", max: 64, pattern: TOPIC_LEVEL, hint: "a topic level: no '/', '+' or '#'" });

/** A WiFi network's name and WPA2 passphrase (empty: an open network): build time, setup page, remote wifiConfig. */
const SSID: Spec = deepFreeze({ kind: "string", max: 32 });
/** WPA2's passphrase rule, for the networks set up from the page or the backend (the build keeps its looser rule). */
export const WPA_PASSPHRASE = /^$|^[\x20-\x7e]{8,63}$/;
export const WPA_PASSPHRASE_HINT = "empty (an open network) or 8 to 63 printable characters";
const WIFI_PASSWORD: Spec = deepFreeze({ kind: "string", max: 64, pattern: WPA_PASSPHRASE, hint: WPA_PASSPHRASE_HINT });

/** Alert thresholds: the same rules at build time and in remote configuration. */
const THRESHOLDS: Record<"temperature" | "humidity" | "gas", Spec> = deepFreeze({
	temperature: { kind: "number", min: -40, max: 125, nullable: true },
	humidity: { kind: "number", min: 0, max: 100, nullable: true },
	gas: { kind: "number", min: 0, max: 100000, nullable: true },
});

export const SCHEMA: Record<string, Spec> = deepFreeze({
	device: { kind: "section", fields: { homeId: ID, deviceId: ID, tenantId: ID } },
	wifi: {
		kind: "section",
		fields: {
			ssid: SSID,
			password: { kind: "string", max: 64 },
			retryMin: { kind: "int", min: 1, max: 600 },
			retryMax: { kind: "int", min: 1, max: 3600 },
		},
	},
	time: {
		kind: "section",
		fields: {
			servers: { kind: "strings", maxItems: 5, maxLength: 253 },
			resync: { kind: "int", min: 60, max: 86400 },
			retry: { kind: "int", min: 1, max: 3600 },
			jumpThreshold: { kind: "int", min: 1, max: 86400 },
			wait: { kind: "int", min: 0, max: 3600 },
		},
	},
	mqtt: {
		kind: "section",
		fields: {
			url: { kind: "url", max: 256 },
			protocolVersion: { kind: "enum", values: [4, 5] },
			keepAlive: { kind: "int", min: 0, max: 65535 },
			socketTimeout: { kind: "int", min: 1, max: 600 },
			bufferSize: { kind: "int", min: 256, max: 65536 },
			inflightWindow: { kind: "int", min: 1, max: 64 },
			cleanSession: { kind: "bool" },
			sessionExpiry: { kind: "int", min: 0, max: 4294967295 },
			ca: { kind: "string", max: 8192 },
			serverName: { kind: "string", max: 253 },
			clientIdPrefix: { kind: "string", max: 32, pattern: /^[A-Za-z0-9_-]*$/, hint: "letters, digits, _ and -" },
			clientIdSuffix: { kind: "enum", values: ["none", "boot"] },
			qos: { kind: "enum", values: [0, 1] },
			backoffMin: { kind: "int", min: 1, max: 3600 },
			backoffMax: { kind: "int", min: 1, max: 86400 },
			backoffReset: { kind: "int", min: 1, max: 86400 },
			watchdog: { kind: "int", min: 0, max: 10080 },
			outboxSize: { kind: "int", min: 0, max: 200 },
		},
	},
	auth: {
		kind: "section",
		fields: {
			mode: { kind: "enum", values: ["jwt", "password", "none"] },
			jwtSecret: { kind: "string", max: 256 },
			jwtIssuer: { kind: "string", max: 128 },
			jwtAudience: { kind: "string", max: 128 },
			jwtTtl: { kind: "int", min: 60, max: 604800 },
			jwtRefresh: { kind: "int", min: 30, max: 604800 },
			username: { kind: "string", max: 128 },
			password: { kind: "string", max: 256 },
		},
	},
	telemetry: {
		kind: "section",
		fields: {
			interval: { kind: "int", min: 1, max: 86400 },
			heartbeat: { kind: "int", min: 1, max: 86400 },
		},
	},
	topics: { kind: "section", fields: { scheme: { kind: "enum", values: ["smarthome", "tenant", "sensor"] } } },
	sensor: { kind: "section", fields: { model: { kind: "enum", values: ["dht22", "dht11", "none"] } } },
	alerts: {
		kind: "section",
		fields: {
			...THRESHOLDS,
			temperatureHysteresis: { kind: "number", min: 0, max: 50 },
			humidityHysteresis: { kind: "number", min: 0, max: 50 },
		},
	},
	powerSaving: { kind: "bool" },
	provisioning: {
		kind: "section",
		fields: {
			claimUrl: { kind: "string", max: 256, pattern: HTTP_URL, hint: "http://host[:port]/path or https://..." },
			setupAfter: { kind: "int", min: 0, max: 10080 },
			apSecret: { kind: "string", min: 8, max: 128 },
		},
	},
});

export interface ValidateOptions {
	/** Accept "42", "true" where numbers and booleans are expected (mc/config command-line values). */
	coerceStrings?: boolean;
	/** Report unknown keys as errors (default) or ignore them. */
	unknownKeys?: "error" | "ignore";
}

export interface Validation<T> {
	value: T;
	errors: string[];
	/** Paths whose value the input changed (a value equal to the base's is not a change). */
	changed: string[];
}

function describe(v: unknown): string {
	const text = typeof v === "string" ? JSON.stringify(v) : Array.isArray(v) ? "an array" : v === null ? "null" : typeof v === "object" ? "an object" : String(v);
	return text.length > 40 ? text.slice(0, 37) + "..." : text;
}

function coerce(spec: Spec, value: unknown, options: ValidateOptions): unknown {
	if (!options.coerceStrings || typeof value !== "string") return value;
	const s = value.trim();
	if (spec.kind === "int" || spec.kind === "number" || (spec.kind === "enum" && typeof spec.values[0] === "number")) {
		if (spec.kind === "number" && spec.nullable && s === "null") return null;
		return s !== "" && isFinite(Number(s)) ? Number(s) : value;
	}
	if (spec.kind === "bool") return s === "true" ? true : s === "false" ? false : value;
	if (spec.kind === "strings") return s === "" ? [] : s.split(",").map((x) => x.trim());
	return value;
}

const BROKER_URL = /^(mqtts?):\/\/([^/:\s]+)(?::(\d{1,5}))?\/?$/;

/** Why `url` is not a usable broker URL (mqtt://host:port or mqtts://host:port, port 1 to 65535). */
function brokerUrlProblem(url: string): string | undefined {
	const m = BROKER_URL.exec(url);
	if (!m) return `must be mqtt://host:port or mqtts://host:port (got ${describe(url)})`;
	const port = m[3] === undefined ? undefined : Number(m[3]);
	if (port !== undefined && (port < 1 || port > 65535)) return `port ${port} is out of range (1 to 65535)`;
	return undefined;
}

/** Whether `key` is an own property of `table`: a name from outside never reaches Object.prototype. */
export function hasOwn(table: object, key: string): boolean {
	return Object.prototype.hasOwnProperty.call(table, key);
}

/** Checks one value; returns the error text or undefined. */
function check(spec: Exclude<Spec, { kind: "section" }>, value: unknown): string | undefined {
	switch (spec.kind) {
		case "url":
			if (typeof value !== "string") return `must be a string (got ${describe(value)})`;
			if (value.length > spec.max) return `must be at most ${spec.max} characters`;
			return brokerUrlProblem(value);
		case "string":
			if (typeof value !== "string") return `must be a string (got ${describe(value)})`;
			if (value.length > spec.max) return `must be at most ${spec.max} characters`;
			if (spec.min !== undefined && value.length < spec.min) return `must be at least ${spec.min} characters`;
			if (spec.pattern && !spec.pattern.test(value)) return `must be ${spec.hint ?? "well formed"} (got ${describe(value)})`;
			return undefined;
		case "int":
			if (typeof value !== "number" || !Number.isInteger(value)) return `must be an integer from ${spec.min} to ${spec.max} (got ${describe(value)})`;
			if (value < spec.min || value > spec.max) return `must be from ${spec.min} to ${spec.max} (got ${value})`;
			return undefined;
		case "number":
			if (value === null && spec.nullable) return undefined;
			if (typeof value !== "number" || !isFinite(value)) return `must be a number from ${spec.min} to ${spec.max}${spec.nullable ? " or null" : ""} (got ${describe(value)})`;
			if (value < spec.min || value > spec.max) return `must be from ${spec.min} to ${spec.max} (got ${value})`;
			return undefined;
		case "bool":
			return typeof value === "boolean" ? undefined : `must be true or false (got ${describe(value)})`;
		case "enum":
			return spec.values.indexOf(value as string | number) >= 0 ? undefined : `must be one of ${spec.values.map((v) => JSON.stringify(v)).join(", ")} (got ${describe(value)})`;
		case "strings":
			if (!Array.isArray(value) || value.some((s) => typeof s !== "string" || !s.length || s.length > spec.maxLength)) return `must be a list of names (got ${describe(value)})`;
			if (value.length > spec.maxItems) return `must have at most ${spec.maxItems} entries`;
			return undefined;
	}
}

function validateSection(
	fields: Record<string, Spec>,
	input: unknown,
	target: Record<string, unknown>,
	path: string,
	options: ValidateOptions,
	out: { errors: string[]; changed: string[] },
): void {
	if (!input || typeof input !== "object" || Array.isArray(input)) {
		out.errors.push(`${path || "config"}: must be an object (got ${describe(input)})`);
		return;
	}
	for (const key of Object.keys(input)) {
		const here = path ? `${path}.${key}` : key;
		// Own properties only: "constructor", "__proto__" and the like are unknown settings, never Object.prototype's.
		const spec = hasOwn(fields, key) ? fields[key] : undefined;
		const raw = (input as Record<string, unknown>)[key];
		if (!spec) {
			if (options.unknownKeys !== "ignore") out.errors.push(`${here}: unknown setting`);
			continue;
		}
		if (spec.kind === "section") {
			validateSection(spec.fields, raw, target[key] as Record<string, unknown>, here, options, out);
			continue;
		}
		const value = coerce(spec, raw, options);
		const problem = check(spec, value);
		if (problem) out.errors.push(`${here}: ${problem}`);
		else {
			if (!sameValue(target[key], value)) out.changed.push(here);
			target[key] = Array.isArray(value) ? value.slice() : value;
		}
	}
}

function sameValue(a: unknown, b: unknown): boolean {
	if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
	return a === b;
}

function clone<T>(value: T): T {
	return JSON.parse(JSON.stringify(value)) as T;
}

/** Cross-field rules, checked after the fields themselves. */
function checkConsistency(c: DeviceConfig): string[] {
	const errors: string[] = [];
	if (c.mqtt.backoffMax < c.mqtt.backoffMin) errors.push("mqtt.backoffMax: must not be below mqtt.backoffMin");
	if (c.wifi.retryMax < c.wifi.retryMin) errors.push("wifi.retryMax: must not be below wifi.retryMin");
	if (c.auth.mode === "jwt") {
		if (!c.auth.jwtSecret) errors.push("auth.jwtSecret: required when auth.mode is \"jwt\"");
		if (c.auth.jwtRefresh >= c.auth.jwtTtl) errors.push("auth.jwtRefresh: must be shorter than auth.jwtTtl, or the token expires before it is refreshed");
	}
	if (c.mqtt.url.startsWith("mqtts://") && !c.mqtt.ca) errors.push("mqtt.ca: required for mqtts:// (the CA certificate that signed the broker's certificate)");
	if (c.mqtt.keepAlive > 0 && c.mqtt.keepAlive < 5) errors.push("mqtt.keepAlive: use 0 (off) or at least 5 seconds");
	return errors;
}

/** Validates `input` field by field and merges what is valid over `base`. */
export function validateConfig(input: unknown, base: DeviceConfig = defaultConfig(), options: ValidateOptions = {}): Validation<DeviceConfig> {
	const value = clone(base);
	const out = { errors: [] as string[], changed: [] as string[] };
	validateSection(SCHEMA, input, value as unknown as Record<string, unknown>, "", options, out);
	if (!out.errors.length) out.errors.push(...checkConsistency(value));
	return { value, errors: out.errors, changed: out.changed };
}

/** Host name and port of mqtt.url. */
export function brokerAddress(url: string): { tls: boolean; host: string; port: number } {
	const problem = brokerUrlProblem(url);
	const m = BROKER_URL.exec(url);
	if (problem || !m) throw new RangeError(`mqtt.url ${url}: ${problem ?? "not an MQTT URL"}`);
	const tls = m[1] === "mqtts";
	return { tls, host: m[2], port: m[3] ? Number(m[3]) : tls ? 8883 : 1883 };
}

/* ----------------------------------------------------------------------------------------- */
/* Remote configuration (the backend's config message)                                         */

/** The part of the configuration a backend may change, in the message's own shape. */
export interface RemoteConfig {
	sampleRate: number;
	alertThresholds: { gas: number | null; temperature: number | null; humidity: number | null };
	powerSaving: boolean;
	mqttConfig: { keepAlive: number; qos: 0 | 1 };
	/**
	 * The network: `reconnectInterval` (seconds before the first rejoin, wifi.retryMin) applies at
	 * once; a new `ssid` (+ `password`, an extension) is tried once, with a fallback to the network
	 * in use (src/provisioning/wifi-trial.ts). The view never carries the password.
	 */
	wifiConfig: { ssid: string; reconnectInterval: number; password?: string };
}

const REMOTE: Record<string, Spec> = deepFreeze({
	sampleRate: { kind: "int", min: 5, max: 3600 },
	alertThresholds: {
		kind: "section",
		fields: {
			...THRESHOLDS,
		},
	},
	powerSaving: { kind: "bool" },
	mqttConfig: {
		kind: "section",
		fields: {
			keepAlive: { kind: "int", min: 10, max: 1200 },
			qos: { kind: "enum", values: [0, 1] },
		},
	},
	wifiConfig: {
		kind: "section",
		fields: {
			ssid: { kind: "string", min: 1, max: 32 },
			password: WIFI_PASSWORD,
			reconnectInterval: { kind: "int", min: 1, max: 600 },
		},
	},
});

export function remoteView(c: DeviceConfig): RemoteConfig {
	return {
		sampleRate: c.telemetry.interval,
		alertThresholds: { gas: c.alerts.gas, temperature: c.alerts.temperature, humidity: c.alerts.humidity },
		powerSaving: c.powerSaving,
		mqttConfig: { keepAlive: c.mqtt.keepAlive, qos: c.mqtt.qos },
		wifiConfig: { ssid: c.wifi.ssid, reconnectInterval: c.wifi.retryMin },
	};
}

export function applyRemoteView(c: DeviceConfig, r: RemoteConfig): DeviceConfig {
	const next = clone(c);
	next.telemetry.interval = r.sampleRate;
	next.alerts.gas = r.alertThresholds.gas;
	next.alerts.temperature = r.alertThresholds.temperature;
	next.alerts.humidity = r.alertThresholds.humidity;
	next.powerSaving = r.powerSaving;
	next.mqtt.keepAlive = r.mqttConfig.keepAlive;
	next.mqtt.qos = r.mqttConfig.qos;
	// The network itself (ssid, password) changes only once joined: src/provisioning/wifi-trial.ts.
	next.wifi.retryMin = r.wifiConfig.reconnectInterval;
	next.wifi.retryMax = Math.max(next.wifi.retryMax, next.wifi.retryMin);
	return next;
}

export interface RemoteValidation {
	/** The merged remote view when valid. */
	value?: RemoteConfig;
	errors: string[];
	changed: string[];
	/** Top-level fields this firmware does not know (ignored, reported). */
	ignored: string[];
}

/**
 * Validates the `config` object of a config message against the current remote view. All or
 * nothing: one invalid field refuses the whole message. Unknown top-level fields are ignored and reported, so newer backends do not brick older devices.
 */
export function validateRemoteConfig(input: unknown, current: RemoteConfig): RemoteValidation {
	if (!input || typeof input !== "object" || Array.isArray(input))
		return { errors: [`config: must be an object (got ${describe(input)})`], changed: [], ignored: [] };
	const ignored = Object.keys(input).filter((k) => !hasOwn(REMOTE, k));
	const known: Record<string, unknown> = {};
	for (const k of Object.keys(input)) if (hasOwn(REMOTE, k)) known[k] = (input as Record<string, unknown>)[k];
	const value = clone(current);
	const out = { errors: [] as string[], changed: [] as string[] };
	validateSection(REMOTE, known, value as unknown as Record<string, unknown>, "", {}, out);
	if (out.errors.length) return { errors: out.errors, changed: [], ignored };
	return { value, errors: [], changed: out.changed, ignored };
}

/*
 * The build configuration (Moddable's mc/config) in this firmware's terms. No Moddable imports:
 * main.ts passes the mc/config object in, so the mapping also runs (and is checked) on the host.
 *
 * Device settings, in increasing priority:
 *   1. defaultConfig() (src/settings.ts);
 *   2. `device`: an optional object in the manifest's config holding any part of a DeviceConfig,
 *      e.g. "device": {"mqtt": {"keepAlive": 30}, "telemetry": {"interval": 10}};
 *   3. the flat keys below, which can also be given on the mcconfig command line (key=value, as
 *      strings; validateConfig's coerceStrings turns "30" and "true" into numbers and booleans).
 *      A flat key that is empty ("") is not set and does not override the `device` object.
 *
 * Board settings: `pins`, from the platform manifest (platforms/esp32s3/manifest.json).
 */

/** Flat mc/config key → DeviceConfig path. Later entries win when two set the same path. */
export const FLAT_KEYS: Readonly<Record<string, string>> = Object.freeze({
	// Moddable's own names: with ssid=..., the SDK's setup/network joins before main runs.
	ssid: "wifi.ssid",
	password: "wifi.password",
	// This firmware joins by itself (retries with backoff, LED, reasons in the log).
	wifi_ssid: "wifi.ssid",
	wifi_password: "wifi.password",
	broker: "mqtt.url",
	ca: "mqtt.ca",
	mqtt_version: "mqtt.protocolVersion",
	mqtt_username: "auth.username",
	mqtt_password: "auth.password",
	auth: "auth.mode",
	jwt_secret: "auth.jwtSecret",
	jwt_issuer: "auth.jwtIssuer",
	jwt_audience: "auth.jwtAudience",
	topic_scheme: "topics.scheme",
	home_id: "device.homeId",
	device_id: "device.deviceId",
	tenant_id: "device.tenantId",
	sensor: "sensor.model",
	ntp: "time.servers",
});

/** The nested objects read from mc/config. */
export const DEVICE_KEY = "device";
export const PINS_KEY = "pins";

type Config = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is Record<string, unknown> {
	return !!value && typeof value === "object" && !Array.isArray(value);
}

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
	const parts = path.split(".");
	let node = target;
	for (let i = 0; i < parts.length - 1; i++) {
		const next = node[parts[i]];
		if (!isObject(next)) node[parts[i]] = {};
		node = node[parts[i]] as Record<string, unknown>;
	}
	node[parts[parts.length - 1]] = value;
}

/** "3.1.1" and "5.0" as the protocol levels the settings use; anything else unchanged. */
function protocolVersion(value: unknown): unknown {
	const text = String(value).trim().toLowerCase().replace(/^v/, "");
	if (text === "3.1.1" || text === "311") return 4;
	if (text === "5.0" || text === "50") return 5;
	return value;
}

/**
 * The input for validateConfig(..., { coerceStrings: true }), and the problems found on the way
 * (the `device` object not being an object).
 */
export function deviceSettings(mc: Config): { input: Record<string, unknown>; errors: string[] } {
	const errors: string[] = [];
	const nested = mc[DEVICE_KEY];
	let input: Record<string, unknown> = {};
	if (isObject(nested)) input = JSON.parse(JSON.stringify(nested)) as Record<string, unknown>;
	else if (nested !== undefined && nested !== "") errors.push(`${DEVICE_KEY}: must be an object holding device settings (got ${typeof nested})`);
	for (const key of Object.keys(FLAT_KEYS)) {
		const value = mc[key];
		if (value === undefined || value === "") continue;
		setPath(input, FLAT_KEYS[key], key === "mqtt_version" ? protocolVersion(value) : value);
	}
	return { input, errors };
}

/* ----------------------------------------------------------------------------------------- */
/* Board                                                                                       */

export interface Board {
	/** DHT data line, or undefined when not configured. (The RMT channel is the driver's choice.) */
	dht: { pin: number } | undefined;
	led:
		| { kind: "neopixel"; pin: number; color: [number, number, number]; brightness: number }
		| { kind: "gpio"; pin: number; activeLow: boolean }
		| { kind: "none" };
	/** The switched output (relay, lamp), or undefined for none. */
	power: { pin: number; activeLow: boolean } | undefined;
}

const MAX_GPIO = 48;

function gpio(value: unknown, path: string, errors: string[]): number | undefined {
	const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
	if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_GPIO) return n;
	errors.push(`${path}: must be a GPIO number from 0 to ${MAX_GPIO} (got ${JSON.stringify(value)})`);
	return undefined;
}

function flag(value: unknown): boolean {
	return value === true || value === "true" || value === 1;
}

function byte(value: unknown): number | undefined {
	return typeof value === "number" && Number.isInteger(value) && value >= 0 && value <= 255 ? value : undefined;
}

/** The board's pins from mc/config `pins`; a bad entry disables that part and is reported. */
export function board(mc: Config): { board: Board; errors: string[] } {
	const errors: string[] = [];
	const pins = isObject(mc[PINS_KEY]) ? (mc[PINS_KEY] as Record<string, unknown>) : {};
	if (!isObject(mc[PINS_KEY])) errors.push(`${PINS_KEY}: missing; the platform manifest should define the board's pins`);
	const result: Board = { dht: undefined, led: { kind: "none" }, power: undefined };

	const dht = isObject(pins.dht) ? pins.dht : undefined;
	if (dht && dht.pin !== undefined && dht.pin !== -1) {
		const pin = gpio(dht.pin, "pins.dht.pin", errors);
		if (pin !== undefined) result.dht = { pin };
	}

	const led = isObject(pins.led) ? pins.led : {};
	const kind = led.kind ?? "none";
	if (kind === "neopixel") {
		const pin = gpio(led.pin, "pins.led.pin", errors);
		const rgb = Array.isArray(led.color) && led.color.length === 3 ? led.color.map(byte) : [];
		const brightness = led.brightness === undefined ? 64 : byte(led.brightness);
		if (rgb.length !== 3 || rgb.some((c) => c === undefined)) errors.push(`pins.led.color: must be [red, green, blue], 0 to 255 each (got ${JSON.stringify(led.color)})`);
		else if (brightness === undefined) errors.push(`pins.led.brightness: must be from 0 to 255 (got ${JSON.stringify(led.brightness)})`);
		else if (pin !== undefined) result.led = { kind, pin, color: rgb as [number, number, number], brightness };
	}
	else if (kind === "gpio") {
		const pin = gpio(led.pin, "pins.led.pin", errors);
		if (pin !== undefined) result.led = { kind, pin, activeLow: flag(led.activeLow) };
	}
	else if (kind !== "none") errors.push(`pins.led.kind: must be "neopixel", "gpio" or "none" (got ${JSON.stringify(kind)})`);

	const power = isObject(pins.power) ? pins.power : undefined;
	if (power && power.pin !== undefined && power.pin !== -1) {
		const pin = gpio(power.pin, "pins.power.pin", errors);
		if (pin !== undefined) result.power = { pin, activeLow: flag(power.activeLow) };
	}
	return { board: result, errors };
}

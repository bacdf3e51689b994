/*
 * "mc/config" on the Linux target. mcconfig generates no mc/config for x-cli-* builds, so the
 * runner (npm run device:linux, the device check) passes the build configuration as JSON in the
 * environment variable SENSOR_CONFIG: the manifests' "config" defaults with its flags over them,
 * the same keys as mcconfig's key=value on the board. Not preloaded: it is read when the firmware
 * starts.
 */

import { getenv } from "linux/host";

function load(): Record<string, unknown> {
	const text = getenv("SENSOR_CONFIG");
	if (!text) {
		trace("<error>SENSOR_CONFIG is not set: run the Linux target with npm run device:linux\n");
		return {};
	}
	try {
		const value: unknown = JSON.parse(text);
		if (value && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
		trace("<error>SENSOR_CONFIG: not a JSON object\n");
	}
	catch (e) {
		trace(`<error>SENSOR_CONFIG: ${String(e)}\n`);
	}
	return {};
}

/** Where the SDK's Linux preference module keeps its file (it reads file.root when it loads). */
const FILE_ROOT = "/tmp/sensor-firmware-";

const loaded = load();
const file = loaded.file && typeof loaded.file === "object" ? (loaded.file as Record<string, unknown>) : {};
const config: Record<string, unknown> = { ...loaded, file: { ...file, root: typeof file.root === "string" ? file.root : FILE_ROOT } };
export default config;

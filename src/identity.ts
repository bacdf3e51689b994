/*
 * Who the device is: a client id that is stable per device, derived from its MAC address
 * (`sensor_` + the last three bytes in upper-case hex, e.g. sensor_8EA40C), and optionally a
 * per-boot variant (<id>_<millis>) for brokers where two connections would share an id.
 */

const MAC = /^([0-9A-Fa-f]{2})([:-]?)([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$/;

/** Normalises "aa-bb-cc-dd-ee-ff" or "aabbccddeeff" to "AA:BB:CC:DD:EE:FF"; undefined if not a MAC. */
export function normalizeMac(mac: string): string | undefined {
	const m = MAC.exec(mac.trim());
	if (!m) return undefined;
	return [m[1], m[3], m[4], m[5], m[6], m[7]].join(":").toUpperCase();
}

/** The stable client id: prefix + last three MAC bytes in upper-case hex. */
export function clientIdFromMac(mac: string, prefix = "sensor_"): string {
	const normal = normalizeMac(mac);
	if (!normal) throw new RangeError(`not a MAC address: ${mac}`);
	return prefix + normal.split(":").slice(3).join("");
}

/** The id used in CONNECT: the stable id, or with the per-boot suffix. */
export function connectionClientId(stableId: string, suffix: "none" | "boot", bootMillis: number): string {
	return suffix === "boot" ? `${stableId}_${Math.floor(bootMillis)}` : stableId;
}

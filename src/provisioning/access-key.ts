/*
 * The setup access point's name and password, both derived from the board's MAC.
 *
 * Name: the client id with "-" for "_" (sensor_8EA40C -> sensor-8EA40C).
 * Password: HMAC-SHA256(key = provisioning.apSecret, message = the MAC as "AA:BB:CC:DD:EE:FF"),
 * its first 10 bytes each mapped onto a 32-letter alphabet without look-alikes (no 0/O or 1/I),
 * in two groups of five: "K7MWQ-3RTXD". It is printed on the serial monitor in setup mode; the
 * factory prints it on the board's label with `npm run setup-key -- <MAC>` and the same secret.
 */

import { utf8Encode } from "bytes";
import type { HmacSha256 } from "../ports";
import { clientIdFromMac } from "../identity";

/** 32 symbols: A to Z without I and O, 2 to 9 (no 0/O or 1/I look-alikes). */
const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

export function accessPointName(mac: string, prefix = "sensor_"): string {
	return clientIdFromMac(mac, prefix).replace(/_/g, "-").slice(0, 32);
}

export function accessPointPassword(mac: string, secret: string, hmac: HmacSha256): string {
	const digest = hmac(utf8Encode(secret), utf8Encode(mac.toUpperCase()));
	let out = "";
	for (let i = 0; i < 10; i++) {
		if (i === 5) out += "-";
		out += ALPHABET[digest[i] & 31];
	}
	return out;
}

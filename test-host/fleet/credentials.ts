/*
 * Per-device credentials for a fleet: one MQTT user per device, named by its client id, with a
 * random password, and the Mosquitto password file for them, hashed here as mosquitto_passwd does
 * (PBKDF2-SHA512, 101 iterations, 12-byte salt: the "$7$" format of Mosquitto 2) so that 10,000
 * users do not take 10,000 runs of mosquitto_passwd.
 */

import { pbkdf2Sync, randomBytes } from "node:crypto";

export interface Credentials {
	username: string;
	password: string;
}

export const PBKDF2_ITERATIONS = 101;

export function randomPassword(): string {
	return randomBytes(12).toString("base64url");
}

/** One line of a Mosquitto 2 password file. */
export function mosquittoPasswordLine(username: string, password: string): string {
	if (/[:\n]/.test(username)) throw new RangeError(`a Mosquitto user name cannot contain ":" or a line break: ${JSON.stringify(username)}`);
	const salt = randomBytes(12);
	const hash = pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 64, "sha512");
	return `${username}:$7$${PBKDF2_ITERATIONS}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** --username / --password templates for an existing broker: "{n}" is the device number, "{id}" its client id. */
export function fillTemplate(template: string, n: number, clientId: string): string {
	return template.replaceAll("{n}", String(n)).replaceAll("{id}", clientId);
}

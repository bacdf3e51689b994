/*
 * Fixes that depend on how this device is configured, which the MQTT client cannot know: a
 * refused or oversized CONNECT means one thing with a JWT and another with a password.
 */

import { deepFreeze } from "frozen";
import type { AuthMode } from "./settings";

const CREDENTIALS_FIX: Record<AuthMode, string> = deepFreeze({
	jwt: "the broker refused the JWT: compare auth.jwtSecret with the broker's JWT secret, auth.jwtIssuer (iss) and auth.jwtAudience (aud) with the claims it verifies, and check the device clock (time.synced): a token minted on a wrong clock is expired or not yet valid",
	password: "the broker refused auth.username / auth.password (or the rotated ones): with a Mosquitto password file, add the user with mosquitto_passwd and reload the broker after every edit (kill -HUP, SIGHUP); with dynamic security, check that the client exists, is enabled and has this password",
	none: "the broker requires credentials: set auth.mode to \"password\" (with auth.username and auth.password) or \"jwt\"",
});

const CONNECT_TOO_LARGE_FIX: Record<AuthMode, string> = deepFreeze({
	jwt: "CONNECT (the JWT, the client id and the will) is over mqtt.bufferSize: shorten the JWT's claims (auth.jwtIssuer, auth.jwtAudience) or the client id, or raise mqtt.bufferSize",
	password: "CONNECT (user name, password, client id and the will) is over mqtt.bufferSize: shorten them or raise mqtt.bufferSize",
	none: "CONNECT (the client id and the will) is over mqtt.bufferSize: raise mqtt.bufferSize",
});

/** The fix for a connection failure `code` under auth `mode`, when it depends on the mode. */
export function fixFor(code: string, mode: AuthMode): string | undefined {
	if (code === "credentials_refused") return CREDENTIALS_FIX[mode];
	if (code === "connect_too_large") return CONNECT_TOO_LARGE_FIX[mode];
	return undefined;
}

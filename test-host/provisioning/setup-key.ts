/*
 * `npm run setup-key -- <MAC> [--secret SECRET]`: a board's setup access point name and password,
 * for its label (the same derivation as the firmware: src/provisioning/access-key.ts). SECRET is
 * the build's provisioning.apSecret (default: the development secret).
 */

import { normalizeMac } from "../../src/identity";
import { accessPointName, accessPointPassword } from "../../src/provisioning/access-key";
import { defaultConfig } from "../../src/settings";
import { nodeHmac } from "../adapters/system";

const args = process.argv.slice(2);
const at = args.indexOf("--secret");
const secret = at >= 0 ? args[at + 1] : defaultConfig().provisioning.apSecret;
const mac = normalizeMac(args.find((a, i) => !a.startsWith("--") && (at < 0 || i !== at + 1)) ?? "");
if (!mac || !secret) {
	process.stderr.write("usage: npm run setup-key -- AA:BB:CC:DD:EE:FF [--secret SECRET]\n");
	process.exit(2);
}
process.stdout.write(`access point: ${accessPointName(mac)}\npassword:     ${accessPointPassword(mac, secret, nodeHmac)}\n`);

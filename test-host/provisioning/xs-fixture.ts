/*
 * Provisioning's platform-free logic for a run inside the real XS engine (the form's validation
 * with the schema's rules, the access point password, the captive DNS answer, the claim answer),
 * compared with the same run on Node (test-host/test/provisioning-xs.test.ts).
 */

import { defaultConfig } from "../../src/settings";
import { accessPointName, accessPointPassword } from "../../src/provisioning/access-key";
import { interpret } from "../../src/provisioning/claim";
import { captiveAnswer } from "../../src/provisioning/dns";
import { formView, validateSetupForm } from "../../src/provisioning/form";
import { hmacSha256 } from "../xs/sha256";

export function run(): string {
	const base = defaultConfig();
	const query = new Uint8Array([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 0, 0, 1, 0, 1]);
	return JSON.stringify({
		bad: validateSetupForm({ ssid: "", password: "short", brokerUrl: "mqtt://h:99999", authMode: "x", homeId: "a/b", claimCode: "!" }, base),
		good: validateSetupForm({ ssid: "lab", password: "lab-password-1", brokerUrl: "mqtt://10.0.0.2:1883", authMode: "none", claimCode: "ABCD-1234", claimUrl: "http://10.0.0.2/claim" }, base),
		proto: validateSetupForm(JSON.parse("{\"__proto__\":{\"x\":1},\"ssid\":\"lab\"}"), base),
		view: formView(base),
		name: accessPointName("24:6f:28:8e:a4:0c"),
		password: accessPointPassword("24:6F:28:8E:A4:0C", "secret-one", hmacSha256),
		dns: Array.from(captiveAnswer(query, "192.168.4.1") ?? []),
		claim: [interpret(200, "{\"username\":\"u\",\"password\":\"p\"}"), interpret(410, "{\"error\":\"claim code expired\"}"), interpret(200, "<html>")],
	});
}

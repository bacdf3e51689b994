import test from "ava";
import { ackDiagnostic, connackDiagnostic, disconnectDiagnostic, keepaliveCloseDiagnostic, reasonName, STATE, stateName, transportDiagnostic, type TransportErrorCode } from "mqttclient/diagnostics";
import { CONNACK_V5_CODES, DISCONNECT_V5_CODES } from "./oracle";

/*
 * Every refusal and disconnect yields a message and a fix; the ones the issue names say what it asks.
 */

const PUBSUBCLIENT_STATES: [number, string][] = [
	[-4, "MQTT_CONNECTION_TIMEOUT"], [-3, "MQTT_CONNECTION_LOST"], [-2, "MQTT_CONNECT_FAILED"], [-1, "MQTT_DISCONNECTED"], [0, "MQTT_CONNECTED"],
	[1, "MQTT_CONNECT_BAD_PROTOCOL"], [2, "MQTT_CONNECT_BAD_CLIENT_ID"], [3, "MQTT_CONNECT_UNAVAILABLE"], [4, "MQTT_CONNECT_BAD_CREDENTIALS"], [5, "MQTT_CONNECT_UNAUTHORIZED"],
];

test("PubSubClient state numbers and names", (t) => {
	for (const [state, name] of PUBSUBCLIENT_STATES) t.is(stateName(state), name);
	t.is(STATE.CONNECTION_TIMEOUT, -4);
	t.is(STATE.UNAUTHORIZED, 5);
});

test("every 3.1.1 CONNACK refusal has a message naming the code and PubSubClient state, and a fix", (t) => {
	for (let rc = 1; rc <= 5; rc++) {
		const d = connackDiagnostic(4, rc);
		t.is(d.state, rc);
		t.is(d.reasonCode, rc);
		t.regex(d.message, new RegExp(`CONNACK ${rc}\\b`));
		t.true(d.message.includes(stateName(rc)), d.message);
		t.true(d.message.includes(reasonName(rc, 4)));
		t.truthy(d.fix && d.fix.length > 20, `fix for ${rc}`);
	}
	// An unknown return code still explains itself.
	const odd = connackDiagnostic(4, 9);
	t.is(odd.state, STATE.CONNECT_FAILED);
	t.truthy(odd.fix);
	t.regex(odd.message, /9/);
});

test("every 5.0 CONNACK refusal has a message with its hex code and name, and a fix", (t) => {
	for (const rc of CONNACK_V5_CODES.filter((c) => c >= 0x80)) {
		const d = connackDiagnostic(5, rc, "told you so");
		const hex = `0x${rc.toString(16).toUpperCase()}`;
		t.true(d.message.includes(hex), `${hex} in ${d.message}`);
		t.true(d.message.includes(reasonName(rc)), d.message);
		t.true(d.message.includes("told you so"));
		t.true(d.message.includes(stateName(d.state)));
		t.truthy(d.fix, hex);
		t.regex(d.code, /^[a-z_]+$/);
	}
});

test("credential refusals (CONNACK 4/5, 0x86/0x87, 0x8C) have one generic fix that never talks about JWTs", (t) => {
	const generic = connackDiagnostic(4, 5).fix;
	for (const d of [connackDiagnostic(4, 4), connackDiagnostic(4, 5), connackDiagnostic(5, 0x86), connackDiagnostic(5, 0x87), connackDiagnostic(5, 0x8c)]) {
		t.is(d.code, "credentials_refused", "the code the application specialises the fix by");
		const fix = d.fix ?? "";
		// The client does not know how the application authenticates: nothing JWT-specific.
		t.notRegex(fix, /JWT|token|\biss\b|\baud\b|claim|secret|clock|SNTP/i);
		t.regex(fix, /user name or password/);
		t.regex(fix, /SIGHUP/);
		t.regex(fix, /password file/);
		t.regex(fix, /dynamic security/);
		t.regex(fix, /broker's log/);
		t.true(fix.endsWith(generic ?? "-"), fix);
	}
	t.is(connackDiagnostic(4, 4).state, 4);
	t.is(connackDiagnostic(4, 5).state, 5);
	t.is(connackDiagnostic(5, 0x86).state, 4);
	t.is(connackDiagnostic(5, 0x87).state, 5);
});

test("no fix text of the client talks about JWTs or tokens (the client does not know the auth mode)", (t) => {
	const all = [
		...[1, 2, 3, 4, 5].map((rc) => connackDiagnostic(4, rc)),
		...CONNACK_V5_CODES.map((rc) => connackDiagnostic(5, rc)),
		...DISCONNECT_V5_CODES.map((rc) => disconnectDiagnostic(rc)),
		...(["refused", "dns", "timeout", "tls", "reset", "unreachable", "closed", "io"] as const).map((c) => transportDiagnostic(c)),
		keepaliveCloseDiagnostic(16, 10),
	];
	for (const d of all) t.notRegex(`${d.message} ${d.fix ?? ""}`, /JWT|token/i, d.code);
});

test("every 5.0 DISCONNECT reason has a message and every error reason a fix", (t) => {
	for (const rc of DISCONNECT_V5_CODES) {
		const d = disconnectDiagnostic(rc, "bye");
		const hex = `0x${rc.toString(16).toUpperCase().padStart(2, "0")}`;
		t.true(d.message.includes(hex), `${hex} in ${d.message}`);
		t.true(d.message.includes(reasonName(rc)));
		t.true(d.message.includes("bye"));
		t.is(d.reasonCode, rc);
		t.true(d.state === STATE.CONNECTION_LOST || d.state === STATE.CONNECTION_TIMEOUT, `${hex}: ${d.state}`);
		t.regex(d.code, /^[a-z_]+$/);
		if (rc >= 0x80) t.truthy(d.fix, `fix for DISCONNECT ${hex}`);
	}
});

test("DISCONNECT 0x8E names the client id, 0x95 the packet size, 0x97 the quota", (t) => {
	const taken = disconnectDiagnostic(0x8e);
	t.is(taken.code, "session_taken_over");
	t.regex(taken.message, /Session taken over/);
	t.regex(taken.fix ?? "", /client id/);
	const large = disconnectDiagnostic(0x95);
	t.is(large.code, "packet_too_large");
	t.regex(large.message, /Packet too large/);
	t.regex(large.fix ?? "", /size/);
	const quota = disconnectDiagnostic(0x97);
	t.is(quota.code, "quota_exceeded");
	t.regex(quota.message, /Quota exceeded/);
	t.regex(quota.fix ?? "", /quota/);
	t.is(disconnectDiagnostic(0x8d).state, STATE.CONNECTION_TIMEOUT);
});

test("TCP refused, DNS failure and timeout are told apart", (t) => {
	const all: TransportErrorCode[] = ["refused", "dns", "timeout", "tls", "reset", "unreachable", "closed", "io"];
	const diagnostics = all.map((c) => transportDiagnostic(c, "detail"));
	t.is(new Set(diagnostics.map((d) => d.code)).size, all.length, "a distinct code each");
	t.is(new Set(diagnostics.map((d) => d.message)).size, all.length, "a distinct message each");
	for (const d of diagnostics) {
		t.truthy(d.fix);
		t.regex(d.message, /detail/);
	}
	const [refused, dns, timeout] = diagnostics;
	t.is(refused.code, "tcp_refused");
	t.is(refused.state, STATE.CONNECT_FAILED);
	t.regex(refused.message, /refused/);
	t.is(dns.code, "dns_failed");
	t.is(dns.state, STATE.CONNECT_FAILED);
	t.regex(dns.message, /DNS/);
	t.is(timeout.code, "connect_timeout");
	t.is(timeout.state, STATE.CONNECTION_TIMEOUT);
	t.regex(timeout.message, /timed out/);
});

test("a close without DISCONNECT: the fix is neutral and ordered by likelihood (broker restart or network, then a duplicate client id, then a refusal)", (t) => {
	const fix = transportDiagnostic("closed").fix ?? "";
	const at = (re: RegExp) => {
		const m = re.exec(fix);
		t.truthy(m, `${re} in ${fix}`);
		return m ? m.index : -1;
	};
	const restart = at(/broker restarted or stopped/);
	const network = at(/network dropped/);
	const duplicate = at(/same client id/);
	const refusal = at(/ACL/);
	const size = at(/size limit/);
	t.true(restart < duplicate && network < duplicate, "a restart or a network drop first");
	t.true(duplicate < refusal && duplicate < size, "then a duplicate client id, then a refusal");
	t.regex(fix, /taken over/);
	t.regex(fix, /Mosquitto before 2\.0\.15/);
	t.regex(fix, /reconnects/);
	t.is(transportDiagnostic("closed").code, "connection_lost");
	t.is(transportDiagnostic("closed").state, STATE.CONNECTION_LOST);
});

test("a close after a keepalive of silence from the client says keepalive", (t) => {
	const d = keepaliveCloseDiagnostic(16.2, 10);
	t.is(d.code, "connection_lost");
	t.is(d.state, STATE.CONNECTION_LOST);
	t.regex(d.message, /16\.2 s after this client last sent anything \(keepalive 10 s\)/);
	t.regex(d.fix ?? "", /^keepalive: /);
	t.regex(d.fix ?? "", /1\.5 x keepalive \(15 s\)/);
	t.notRegex(d.fix ?? "", /client id|taken over|ACL/);
});

test("CONNACK 0x9A and 0x9B (5.0) are about the will", (t) => {
	t.is(connackDiagnostic(5, 0x9a).code, "retain_not_supported");
	t.is(connackDiagnostic(5, 0x9b).code, "qos_not_supported");
	t.regex(connackDiagnostic(5, 0x9a).fix ?? "", /will/);
	t.regex(connackDiagnostic(5, 0x9b).fix ?? "", /will/);
});

test("acknowledgement refusals have stable codes", (t) => {
	t.is(ackDiagnostic("PUBLISH to a/b", 0x87).code, "not_authorized");
	t.is(ackDiagnostic("PUBLISH to a/b", 0x97).code, "quota_exceeded");
	t.is(ackDiagnostic("PUBLISH to a/b", 0x80).code, "publish_failed");
	t.is(ackDiagnostic("SUBSCRIBE to x/#", 0x80).code, "subscribe_failed");
	const d = ackDiagnostic("SUBSCRIBE to x/#", 0x8f, "no");
	t.regex(d.message, /x\/#/);
	t.regex(d.message, /0x8F/);
	t.regex(d.message, /no/);
	t.truthy(d.fix);
});

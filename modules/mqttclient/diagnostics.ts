/*
 * Diagnostics: every refusal and disconnect as a machine code, the MQTT code behind it, the
 * PubSubClient-style state number (-4..5) that Arduino users know, what happened and the likely fix.
 */

import type { ProtocolVersion } from "mqttclient/packets";
import { deepFreeze } from "frozen";

export interface Diagnostic {
	/** Stable machine code, e.g. "credentials_refused", "session_taken_over", "tcp_refused". */
	code: string;
	/** The CONNACK return code (3.1.1) or reason code (5.0) behind it, when there is one. */
	reasonCode?: number;
	/** PubSubClient state: -4 timeout, -3 lost, -2 connect failed, -1 disconnected, 0 connected, 1..5 CONNACK refusals. */
	state: number;
	/** What happened, in words. */
	message: string;
	/** The likely fix. */
	fix?: string;
}

export const STATE = Object.freeze({
	CONNECTION_TIMEOUT: -4,
	CONNECTION_LOST: -3,
	CONNECT_FAILED: -2,
	DISCONNECTED: -1,
	CONNECTED: 0,
	BAD_PROTOCOL: 1,
	BAD_CLIENT_ID: 2,
	UNAVAILABLE: 3,
	BAD_CREDENTIALS: 4,
	UNAUTHORIZED: 5,
});

const STATE_NAMES: Record<number, string> = deepFreeze({
	[-4]: "MQTT_CONNECTION_TIMEOUT",
	[-3]: "MQTT_CONNECTION_LOST",
	[-2]: "MQTT_CONNECT_FAILED",
	[-1]: "MQTT_DISCONNECTED",
	0: "MQTT_CONNECTED",
	1: "MQTT_CONNECT_BAD_PROTOCOL",
	2: "MQTT_CONNECT_BAD_CLIENT_ID",
	3: "MQTT_CONNECT_UNAVAILABLE",
	4: "MQTT_CONNECT_BAD_CREDENTIALS",
	5: "MQTT_CONNECT_UNAUTHORIZED",
});

export function stateName(state: number): string {
	return STATE_NAMES[state] ?? `state ${state}`;
}

/** MQTT 5.0 reason code names (section 2.4). */
const REASON_NAMES: Record<number, string> = deepFreeze({
	0x00: "Success",
	0x04: "Disconnect with Will Message",
	0x10: "No matching subscribers",
	0x11: "No subscription existed",
	0x18: "Continue authentication",
	0x19: "Re-authenticate",
	0x80: "Unspecified error",
	0x81: "Malformed Packet",
	0x82: "Protocol Error",
	0x83: "Implementation specific error",
	0x84: "Unsupported Protocol Version",
	0x85: "Client Identifier not valid",
	0x86: "Bad User Name or Password",
	0x87: "Not authorized",
	0x88: "Server unavailable",
	0x89: "Server busy",
	0x8a: "Banned",
	0x8b: "Server shutting down",
	0x8c: "Bad authentication method",
	0x8d: "Keep Alive timeout",
	0x8e: "Session taken over",
	0x8f: "Topic Filter invalid",
	0x90: "Topic Name invalid",
	0x91: "Packet Identifier in use",
	0x92: "Packet Identifier not found",
	0x93: "Receive Maximum exceeded",
	0x94: "Topic Alias invalid",
	0x95: "Packet too large",
	0x96: "Message rate too high",
	0x97: "Quota exceeded",
	0x98: "Administrative action",
	0x99: "Payload format invalid",
	0x9a: "Retain not supported",
	0x9b: "QoS not supported",
	0x9c: "Use another server",
	0x9d: "Server moved",
	0x9e: "Shared Subscriptions not supported",
	0x9f: "Connection rate exceeded",
	0xa0: "Maximum connect time",
	0xa1: "Subscription Identifiers not supported",
	0xa2: "Wildcard Subscriptions not supported",
});

const CONNACK_V4_NAMES: Record<number, string> = deepFreeze({
	0: "Connection Accepted",
	1: "unacceptable protocol version",
	2: "identifier rejected",
	3: "server unavailable",
	4: "bad user name or password",
	5: "not authorized",
});

export function reasonName(code: number, version: ProtocolVersion = 5): string {
	if (version === 4) return CONNACK_V4_NAMES[code] ?? `return code ${code}`;
	return REASON_NAMES[code] ?? `reason code 0x${code.toString(16)}`;
}

function hex(code: number): string {
	return "0x" + (code < 16 ? "0" : "") + code.toString(16).toUpperCase();
}

/**
 * A refused user name or password. The client cannot tell a JWT from a password (a JWT travels as
 * the password), so this stays generic and never talks about JWTs; the application, which knows
 * how it authenticates, specialises the fix of `credentials_refused`.
 */
const FIX_CREDENTIALS =
	"the broker refused the user name or password this client sent: check them against the broker's authentication settings, and see the broker's log for why; with a Mosquitto password file, reload the broker (SIGHUP) after changing the file; with dynamic security, check that the client exists and is enabled";

interface Entry {
	code: string;
	state: number;
	fix?: string;
}

/** Meaning of CONNACK refusals, keyed by 3.1.1 return code or 5.0 reason code. */
const CONNACK_V4: Record<number, Entry> = deepFreeze({
	1: { code: "protocol_refused", state: STATE.BAD_PROTOCOL, fix: "the broker does not speak this MQTT version: set mqtt.protocolVersion to what the broker supports" },
	2: { code: "client_id_rejected", state: STATE.BAD_CLIENT_ID, fix: "the broker rejected the client id: use only letters and digits, at most 23 characters for strict brokers" },
	3: { code: "server_unavailable", state: STATE.UNAVAILABLE, fix: "the broker is up but not accepting connections now; the device will retry with backoff" },
	4: { code: "credentials_refused", state: STATE.BAD_CREDENTIALS, fix: FIX_CREDENTIALS },
	5: { code: "credentials_refused", state: STATE.UNAUTHORIZED, fix: FIX_CREDENTIALS },
});

const CONNACK_V5: Record<number, Entry> = deepFreeze({
	0x84: CONNACK_V4[1],
	0x85: CONNACK_V4[2],
	0x86: { code: "credentials_refused", state: STATE.BAD_CREDENTIALS, fix: FIX_CREDENTIALS },
	0x87: { code: "credentials_refused", state: STATE.UNAUTHORIZED, fix: FIX_CREDENTIALS },
	0x88: CONNACK_V4[3],
	0x89: { code: "server_busy", state: STATE.UNAVAILABLE, fix: "the broker is overloaded; the device will retry with backoff" },
	0x8a: { code: "banned", state: STATE.UNAUTHORIZED, fix: "the broker has banned this client: check the broker's blacklist / banned clients" },
	0x8c: { code: "credentials_refused", state: STATE.BAD_CREDENTIALS, fix: "the broker expects another authentication method: " + FIX_CREDENTIALS },
	0x95: { code: "packet_too_large", state: STATE.CONNECT_FAILED, fix: "CONNECT is larger than the broker accepts: shorten the credentials, the client id or the will" },
	0x97: { code: "quota_exceeded", state: STATE.CONNECT_FAILED, fix: "the broker's quota for this client is exhausted; it will retry with backoff" },
	0x9a: { code: "retain_not_supported", state: STATE.CONNECT_FAILED, fix: "the broker does not accept retained messages, and the will is retained: configure a will without retain, or allow retain on the broker" },
	0x9b: { code: "qos_not_supported", state: STATE.CONNECT_FAILED, fix: "the broker does not accept the will's QoS: configure the will with QoS 0, or allow QoS 1 on the broker" },
	0x9c: { code: "use_another_server", state: STATE.CONNECT_FAILED, fix: "the broker redirects clients elsewhere: update mqtt.url" },
	0x9d: { code: "use_another_server", state: STATE.CONNECT_FAILED, fix: "the broker has moved: update mqtt.url" },
	0x9f: { code: "connection_rate_exceeded", state: STATE.CONNECT_FAILED, fix: "too many connection attempts: raise the backoff floor" },
});

export function connackDiagnostic(version: ProtocolVersion, rc: number, reasonString?: string): Diagnostic {
	const entry = (version === 4 ? CONNACK_V4 : CONNACK_V5)[rc] ??
		{ code: "connection_refused", state: STATE.CONNECT_FAILED, fix: "see the broker's log for why it refused the connection" };
	const label = version === 4 ? `CONNACK ${rc}` : `CONNACK ${hex(rc)}`;
	const extra = reasonString ? ` (broker says: ${reasonString})` : "";
	return {
		code: entry.code,
		reasonCode: rc,
		state: entry.state,
		message: `connection refused: ${reasonName(rc, version)} (${label}, ${stateName(entry.state)})${extra}`,
		fix: entry.fix,
	};
}

const DISCONNECT_V5: Record<number, Entry> = deepFreeze({
	0x87: { code: "not_authorized", state: STATE.CONNECTION_LOST, fix: "the broker withdrew this client's authorization (credentials expired or revoked, or an ACL change): the device reconnects with its current credentials" },
	0x89: { code: "server_busy", state: STATE.CONNECTION_LOST, fix: "the broker is overloaded; the device reconnects with backoff" },
	0x8b: { code: "server_shutting_down", state: STATE.CONNECTION_LOST, fix: "the broker is restarting; the device reconnects with backoff" },
	0x8d: { code: "keepalive_timeout", state: STATE.CONNECTION_TIMEOUT, fix: "the broker heard nothing for 1.5 x keepalive: check the network, or lower mqtt.keepAlive" },
	0x8e: { code: "session_taken_over", state: STATE.CONNECTION_LOST, fix: "another connection is using this client id: give each device a unique id (mqtt.clientIdSuffix \"boot\" adds a per-boot suffix)" },
	0x93: { code: "receive_maximum_exceeded", state: STATE.CONNECTION_LOST, fix: "lower mqtt.inflightWindow to the broker's Receive Maximum" },
	0x95: { code: "packet_too_large", state: STATE.CONNECTION_LOST, fix: "a packet exceeded the broker's maximum packet size: lower mqtt.bufferSize" },
	0x96: { code: "message_rate_too_high", state: STATE.CONNECTION_LOST, fix: "publish less often (raise the telemetry interval)" },
	0x97: { code: "quota_exceeded", state: STATE.CONNECTION_LOST, fix: "the broker's quota for this client is exhausted: publish less" },
	0x98: { code: "administrative_action", state: STATE.CONNECTION_LOST, fix: "an operator disconnected or kicked the client" },
	0x9c: { code: "use_another_server", state: STATE.CONNECTION_LOST, fix: "update mqtt.url" },
	0x9d: { code: "use_another_server", state: STATE.CONNECTION_LOST, fix: "update mqtt.url" },
	0xa0: { code: "maximum_connect_time", state: STATE.CONNECTION_LOST, fix: "the broker limits how long a connection may last (for instance until its credentials expire): the device reconnects" },
});

export function disconnectDiagnostic(rc: number, reasonString?: string): Diagnostic {
	const entry = DISCONNECT_V5[rc] ?? { code: rc === 0 ? "server_disconnect" : rc === 0x81 || rc === 0x82 ? "protocol_error" : "server_disconnect", state: STATE.CONNECTION_LOST,
		fix: rc >= 0x80 ? "see the broker's log for why it closed the connection; the device reconnects with backoff" : undefined };
	const extra = reasonString ? ` (broker says: ${reasonString})` : "";
	return {
		code: entry.code,
		reasonCode: rc,
		state: entry.state,
		message: `broker sent DISCONNECT: ${reasonName(rc)} (${hex(rc)})${extra}`,
		fix: entry.fix,
	};
}

/** A PUBACK/PUBREC/SUBACK failure code from the broker (5.0, or SUBACK 0x80 in 3.1.1). */
export function ackDiagnostic(what: string, rc: number, reasonString?: string): Diagnostic {
	const fixes: Record<number, string> = {
		0x87: "the broker's ACL does not allow this client on that topic: check the ACL / dynamic security role",
		0x8f: "the topic filter is not valid for this broker",
		0x90: "the topic name is not valid for this broker",
		0x97: "the broker's quota is exhausted: publish less",
		0x99: "the payload does not match its declared format",
		0x9a: "the broker does not accept retained messages",
		0x9b: "the broker does not accept this QoS",
		0xa2: "the broker does not allow wildcard subscriptions",
	};
	const extra = reasonString ? ` (broker says: ${reasonString})` : "";
	return {
		code: rc === 0x87 ? "not_authorized" : rc === 0x97 ? "quota_exceeded" : `${what.split(" ")[0].toLowerCase()}_failed`,
		reasonCode: rc,
		state: STATE.CONNECTED,
		message: `${what} refused: ${reasonName(rc)} (${hex(rc)})${extra}`,
		fix: fixes[rc] ?? (rc === 0x80 ? "the broker refused it (ACL or limits): see the broker's log" : undefined),
	};
}

/** Failures below MQTT: the transport reports one of these codes. */
export type TransportErrorCode = "refused" | "dns" | "timeout" | "tls" | "reset" | "unreachable" | "closed" | "io";

const TRANSPORT: Record<TransportErrorCode, Entry & { what: string }> = deepFreeze({
	refused: { code: "tcp_refused", state: STATE.CONNECT_FAILED, what: "TCP connection refused", fix: "nothing listens on that host and port: is the broker running, and is mqtt.url right?" },
	dns: { code: "dns_failed", state: STATE.CONNECT_FAILED, what: "DNS lookup failed", fix: "the broker's host name did not resolve: check mqtt.url and the network's DNS" },
	timeout: { code: "connect_timeout", state: STATE.CONNECTION_TIMEOUT, what: "connection timed out", fix: "no answer within the socket timeout: check that the broker is reachable (firewall, address)" },
	tls: { code: "tls_failed", state: STATE.CONNECT_FAILED, what: "TLS handshake failed", fix: "the server certificate was not accepted: check mqtt.ca (the CA that signed the broker's certificate) and that the host name matches the certificate" },
	reset: { code: "connection_reset", state: STATE.CONNECTION_LOST, what: "connection reset by peer", fix: "the broker or a middlebox dropped the connection; the device reconnects with backoff" },
	unreachable: { code: "network_unreachable", state: STATE.CONNECT_FAILED, what: "network unreachable", fix: "no route to the broker: check WiFi and the broker address" },
	closed: { code: "connection_lost", state: STATE.CONNECTION_LOST, what: "connection closed by the broker without DISCONNECT", fix: "most often the broker restarted or stopped, or the network dropped the connection: the device reconnects with backoff. If it happens again within seconds of each connection, another client uses the same client id (a session taken over: MQTT 3.1.1, and 5.0 brokers that send no DISCONNECT 0x8E such as Mosquitto before 2.0.15, just close the old connection). Otherwise the broker refused a packet (an ACL denial, a packet over its size limit): the broker's log says which" },
	io: { code: "io_error", state: STATE.CONNECTION_LOST, what: "socket error", fix: "the device reconnects with backoff" },
});

export function transportDiagnostic(code: TransportErrorCode, detail?: string): Diagnostic {
	const entry = TRANSPORT[code] ?? TRANSPORT.io;
	return {
		code: entry.code,
		state: entry.state,
		message: entry.what + (detail ? `: ${detail}` : ""),
		fix: entry.fix,
	};
}

/**
 * The broker closed the connection without DISCONNECT after it had heard nothing from this client
 * for `silentS` seconds, at least the keepalive (`keepAliveS`): what the broker's keepalive check
 * does (after 1.5 x keepalive).
 */
export function keepaliveCloseDiagnostic(silentS: number, keepAliveS: number): Diagnostic {
	return {
		code: "connection_lost",
		state: STATE.CONNECTION_LOST,
		message: `connection closed by the broker without DISCONNECT, ${silentS} s after this client last sent anything (keepalive ${keepAliveS} s)`,
		fix: `keepalive: a broker closes a connection it has heard nothing from for 1.5 x keepalive (${keepAliveS * 1.5} s), and this client's packets could not go out for ${silentS} s (the network stalled, or the broker does not read); the device reconnects; if it repeats, check the network path (NAT timeouts, WiFi power saving)`,
	};
}

export function diagnostic(code: string, state: number, message: string, fix?: string): Diagnostic {
	const d: Diagnostic = { code, state, message };
	if (fix) d.fix = fix;
	return d;
}

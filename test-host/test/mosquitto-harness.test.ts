/*
 * Tests for the Mosquitto child-process harness (test-host/brokers/mosquitto.ts), using MQTT.js
 * as the client. They also pin down how Mosquitto 2.0.11 behaves in the cases the firmware
 * must handle: refused credentials, password changes without / with SIGHUP, ACL denials,
 * dynamic-security password changes, TLS with the right / wrong CA and broker restarts.
 */

import test from "ava";
import type { ExecutionContext } from "ava";
import { existsSync } from "node:fs";
import mqtt from "mqtt";
import type { IClientOptions, MqttClient } from "mqtt";
import { requireMosquitto, startMosquitto } from "../brokers/mosquitto";
import type { Mosquitto, MosquittoOptions } from "../brokers/mosquitto";

type Protocol = 4 | 5;
type CodedError = Error & { code?: number | string };

/** Connects, resolving once CONNACK accepted; rejects with MQTT.js's error otherwise. */
function connect(url: string, options: IClientOptions = {}): Promise<MqttClient> {
	return new Promise((resolve, reject) => {
		const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
		client.once("connect", () => resolve(client));
		client.once("error", (error) => {
			client.end(true);
			reject(error);
		});
		client.once("close", () => reject(new Error("closed before CONNACK")));
	});
}

function plainUrl(broker: Mosquitto): string {
	return `mqtt://${broker.host}:${broker.port}`;
}

function login(username: string, password: string, protocolVersion: Protocol): IClientOptions {
	return { username, password, protocolVersion, clientId: `t-${username}-${Math.random().toString(16).slice(2)}` };
}

/** The error MQTT.js reports for a refused connection. */
async function refusal(broker: Mosquitto, options: IClientOptions): Promise<CodedError> {
	try {
		const client = await connect(plainUrl(broker), options);
		await client.endAsync();
	} catch (error) {
		return error as CodedError;
	}
	throw new Error(`connection as ${options.username ?? "anonymous"} was accepted`);
}

async function canConnect(broker: Mosquitto, options: IClientOptions): Promise<void> {
	const client = await connect(plainUrl(broker), options);
	await client.endAsync();
}

/** Starts a broker when the tools are there; undefined (test passes) when skipped locally. */
async function broker(t: ExecutionContext, options: MosquittoOptions): Promise<Mosquitto | undefined> {
	if (!(await requireMosquitto(t))) {
		t.pass("mosquitto not installed");
		return undefined;
	}
	const started = await startMosquitto(options);
	t.teardown(() => started.stop());
	return started;
}

function closed(client: MqttClient, ms: number): Promise<{ closed: boolean; reasonCode?: number }> {
	return new Promise((resolve) => {
		let reasonCode: number | undefined;
		const timer = setTimeout(() => resolve({ closed: false }), ms);
		client.on("disconnect", (packet) => (reasonCode = packet.reasonCode));
		client.once("close", () => {
			clearTimeout(timer);
			resolve({ closed: true, reasonCode });
		});
	});
}

test.serial("password file: good login works, wrong password and anonymous are refused", async (t) => {
	const b = await broker(t, { users: { alice: "right" } });
	if (!b) return;
	await canConnect(b, login("alice", "right", 4));
	await canConnect(b, login("alice", "right", 5));
	const v4 = await refusal(b, login("alice", "wrong", 4));
	t.is(v4.code, 5, "MQTT 3.1.1: CONNACK return code 5, not authorized");
	t.regex(v4.message, /Not authorized/);
	const v5 = await refusal(b, login("alice", "wrong", 5));
	t.is(v5.code, 0x87, "MQTT 5.0: CONNACK reason 0x87, not authorized");
	t.regex(v5.message, /Not authorized/);
	t.is((await refusal(b, login("mallory", "x", 5))).code, 0x87, "unknown user");
	t.is((await refusal(b, { protocolVersion: 5 })).code, 0x87, "anonymous");
	t.is((await refusal(b, { protocolVersion: 4 })).code, 5, "anonymous 3.1.1");
});

test.serial("password file change needs SIGHUP: old password valid until reload()", async (t) => {
	const b = await broker(t, { users: { alice: "old" } });
	if (!b) return;
	await b.setPassword("alice", "new");
	await canConnect(b, login("alice", "old", 5));
	t.is((await refusal(b, login("alice", "new", 5))).code, 0x87);
	await b.reload();
	await canConnect(b, login("alice", "new", 5));
	t.is((await refusal(b, login("alice", "old", 5))).code, 0x87);
	t.regex(b.log(), /Reloading config/);
});

test.serial("ACL: publishing to a denied topic gets PUBACK 0x87 in 5.0, silent drop in 3.1.1", async (t) => {
	const acl = "user alice\ntopic readwrite sensors/#\n";
	const b = await broker(t, { users: { alice: "pw" }, acl });
	if (!b) return;
	const v5 = await connect(plainUrl(b), login("alice", "pw", 5));
	t.teardown(() => v5.end(true));
	await v5.publishAsync("sensors/t", "ok", { qos: 1 });
	const denied = await t.throwsAsync<CodedError>(v5.publishAsync("forbidden/t", "no", { qos: 1 }));
	t.is(denied?.code, 0x87);
	t.log(`MQTT.js 5.0 PUBACK error: code=${denied?.code} message=${denied?.message}`);
	t.true(v5.connected, "a denied publish does not disconnect");
	const v4 = await connect(plainUrl(b), login("alice", "pw", 4));
	t.teardown(() => v4.end(true));
	await t.notThrowsAsync(v4.publishAsync("forbidden/t", "no", { qos: 1 }), "3.1.1 PUBACK has no reason code");
	t.regex(b.log(), /Denied PUBLISH/);
});

test.serial("dynsec: client created with mosquitto_ctrl; setClientPassword", async (t) => {
	const b = await broker(t, { dynsec: { adminUser: "admin", adminPassword: "adminpw" } });
	if (!b) return;
	await b.dynsec("createClient", "dev1", "-p", "pw1");
	await b.dynsec("createRole", "sensor");
	await b.dynsec("addRoleACL", "sensor", "publishClientSend", "sensors/dev1/#", "allow");
	await b.dynsec("addClientRole", "dev1", "sensor");
	t.regex(await b.dynsec("getClient", "dev1"), /sensor/);
	const device = await connect(plainUrl(b), login("dev1", "pw1", 5));
	t.teardown(() => device.end(true));
	await device.publishAsync("sensors/dev1/t", "21.5", { qos: 1 });
	t.is((await t.throwsAsync<CodedError>(device.publishAsync("sensors/dev2/t", "x", { qos: 1 })))?.code, 0x87);
	// Observed with 2.0.11: setClientPassword kicks the client's live connection at once; an
	// MQTT 5 client first gets DISCONNECT with reason 0x98 (administrative action), then the
	// socket closes. A device must therefore reconnect, and from then on needs the new password.
	const kicked = closed(device, 2000);
	await b.dynsec("setClientPassword", "dev1", "pw2");
	t.deepEqual(await kicked, { closed: true, reasonCode: 0x98 });
	t.is((await refusal(b, login("dev1", "pw1", 5))).code, 0x87);
	await canConnect(b, login("dev1", "pw2", 5));
});

test.serial("dynsec(): mosquitto_ctrl errors reject although it exits 0", async (t) => {
	const b = await broker(t, { dynsec: { adminUser: "admin", adminPassword: "adminpw" } });
	if (!b) return;
	t.regex(await b.dynsec("listClients"), /admin/);
	await t.throwsAsync(b.dynsec("getClient", "nobody"), { message: /Client not found/ });
	await b.dynsec("createClient", "dev1", "-p", "pw");
	await t.throwsAsync(b.dynsec("createClient", "dev1", "-p", "pw"), { message: /already exists/ });
	// Without -p mosquitto_ctrl prompts for a password; dynsec() closes stdin, so it does not
	// hang: the prompt reads an empty line and the client is created without a password.
	t.regex(await b.dynsec("createClient", "dev2"), /Press return for no password/);
	t.is((await refusal(b, login("dev2", "", 5))).code, 0x87);
	await t.throwsAsync(b.dynsec("noSuchCommand"), { message: /not recognised/ });
});

test.serial("TLS: right CA connects (servername localhost), other CA fails", async (t) => {
	const b = await broker(t, { tls: true });
	if (!b) return;
	t.truthy(b.tlsPort && b.caPem && b.otherCaPem);
	const url = `mqtts://${b.host}:${b.tlsPort}`;
	const good = await connect(url, { ca: b.caPem, servername: "localhost", rejectUnauthorized: true });
	await good.endAsync();
	const byIp = await connect(url, { ca: b.caPem, rejectUnauthorized: true });
	await byIp.endAsync();
	const bad = await t.throwsAsync<CodedError>(connect(url, { ca: b.otherCaPem, servername: "localhost", rejectUnauthorized: true }));
	// Mosquitto sends the CA along with the server cert (OpenSSL builds the chain from cafile),
	// so Node reports SELF_SIGNED_CERT_IN_CHAIN rather than UNABLE_TO_VERIFY_LEAF_SIGNATURE.
	t.is(bad?.code, "SELF_SIGNED_CERT_IN_CHAIN");
	const wrongName = await t.throwsAsync<CodedError>(connect(url, { ca: b.caPem, servername: "example.com", rejectUnauthorized: true }));
	t.is(wrongName?.code, "ERR_TLS_CERT_ALTNAME_INVALID");
	await canConnect(b, { protocolVersion: 5 });
});

test.serial("restart(): connections drop, broker comes back on the same ports", async (t) => {
	const b = await broker(t, { users: { alice: "pw" }, tls: true });
	if (!b) return;
	const { port, tlsPort } = b;
	const client = await connect(plainUrl(b), login("alice", "pw", 5));
	const drop = closed(client, 5000);
	await b.restart();
	t.true((await drop).closed);
	t.is(b.port, port);
	t.is(b.tlsPort, tlsPort);
	await canConnect(b, login("alice", "pw", 5));
	t.is((b.log().match(/ running/g) ?? []).length, 2);
});

test.serial("stop() removes the temp dir and frees the port", async (t) => {
	const b = await broker(t, {});
	if (!b) return;
	await canConnect(b, { protocolVersion: 4 });
	await b.stop();
	t.false(existsSync(b.dir));
	await t.throwsAsync(connect(plainUrl(b), { protocolVersion: 4, connectTimeout: 1000 }));
	await b.stop();
});

test.serial("a broker that fails to start rejects with its config and log", async (t) => {
	if (!(await requireMosquitto(t))) return t.pass("mosquitto not installed");
	const error = await t.throwsAsync(startMosquitto({ extraConfig: "no_such_option 1" }));
	t.regex(error?.message ?? "", /exited during startup/);
	t.regex(error?.message ?? "", /Unknown configuration variable "no_such_option"/);
});

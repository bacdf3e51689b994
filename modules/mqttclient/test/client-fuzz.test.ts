import test from "ava";
import { MQTTClient, type CloseInfo, type Message } from "mqttclient";
import { encode } from "mqttclient/codec";
import type { Packet, Properties, ProtocolVersion, QoS } from "mqttclient/packets";
import { VirtualTime } from "../../../test-host/adapters/clock";
import { FakeNet, type FakeTransport } from "./fake";
import { mpParse, mutate, Rand, randomPacket } from "./oracle";

/*
 * Rule 1 through the whole client: seeded random and mutated broker byte streams (oversize
 * packets, identifier 0, QoS 3, bad CONNACK limits, packets a broker never sends, truncations...)
 * delivered through the fake transport in chunks of any size, interleaved with the application's
 * publishes and subscriptions, backpressure, hang-ups and the virtual clock's timers.
 *
 * Fails when:
 * - an exception escapes any transport or timer callback (on XS that restarts the board), or an
 *   application call;
 * - the client's last-resort guard reports an internal error (a handler threw: a bug to fix at its root);
 * - a connection closes twice, a message is delivered on a closed connection;
 * - the client writes bytes mqtt-packet cannot parse, or a packet identifier 0;
 * - the send queue grows without bound.
 *
 * FUZZ_SEED=<n> changes the corpus; FUZZ_CASE=<case seed> (printed with each problem) runs that one case.
 */

const CASES_PER_VERSION = 4_000;
const BASE_SEED = Number(process.env.FUZZ_SEED ?? 0xc11e47);

/** Packets a broker sends, and some it never should. */
const FROM_BROKER: Packet["type"][] = ["publish", "publish", "publish", "puback", "pubrec", "pubrel", "pubcomp", "suback", "unsuback", "pingresp", "disconnect"];
const NEVER_FROM_BROKER: Packet["type"][] = ["connect", "connack", "subscribe", "unsubscribe", "pingreq", "auth"];

interface Stats {
	connected: number;
	messages: number;
	closes: Record<string, number>;
	warnings: Record<string, number>;
}

/** A random packet from the broker; ids mostly small, so that they hit the client's own. */
function brokerPacket(r: Rand, version: ProtocolVersion, bufferSize: number): Packet {
	const roll = r.next();
	const type = roll < 0.9 ? r.pick(FROM_BROKER) : r.pick(NEVER_FROM_BROKER.filter((t) => version === 5 || t !== "auth"));
	const p = randomPacket(r, version, type);
	if ("id" in p && p.id !== undefined && r.bool(0.7)) p.id = r.int(1, 10);
	if (p.type === "publish") {
		if (r.bool(0.7)) p.payload = p.payload.subarray(0, r.int(0, 200));
		if (r.bool(0.15)) p.payload = r.bytes(bufferSize + r.int(-10, 600)); // around and over the buffer
		if (r.bool(0.3)) p.topic = r.pick(["cmd/1", "cmd/2", "cfg"]);
		if (p.properties?.topicAlias !== undefined && r.bool(0.7)) delete p.properties.topicAlias;
	}
	return p;
}

/** A CONNACK, mostly accepting, with valid or hostile limits. */
function connackBytes(r: Rand, version: ProtocolVersion, bufferSize: number): Uint8Array {
	const p = randomPacket(r, version, "connack");
	if (p.type !== "connack") throw new Error("not a CONNACK");
	if (r.bool(0.7)) {
		p.reasonCode = 0;
		if (r.bool(0.8)) p.sessionPresent = false;
	}
	if (version === 5 && r.bool(0.3)) {
		const hostile: Properties = {};
		const pick = r.int(0, 5);
		if (pick === 0) hostile.receiveMaximum = r.pick([0, 1, 2]);
		if (pick === 1) hostile.maximumQoS = r.pick([0, 1, 2, 3, 255]);
		if (pick === 2) hostile.maximumPacketSize = r.pick([0, 1, 10, 100, 2000]);
		if (pick === 3) hostile.retainAvailable = r.pick([0, 1, 2]);
		if (pick === 4) hostile.serverKeepAlive = r.pick([0, 1, 5, 65_535]);
		if (pick === 5) hostile.topicAliasMaximum = r.pick([0, 10]);
		p.properties = { ...(p.properties ?? {}), ...hostile };
		if (p.properties.maximumPacketSize === 0 && r.bool(0.5)) p.properties.maximumPacketSize = 5;
	}
	const bytes = encode(p, version);
	// Mostly one that fits the buffer (the rest tests the oversize CONNACK).
	if (bytes.length > bufferSize && r.bool(0.9)) delete p.properties;
	return encode(p, version);
}

/** Raw oversize or malformed-head variants that encode() would refuse to make. */
function oddBytes(r: Rand, version: ProtocolVersion, bufferSize: number): Uint8Array {
	const size = r.pick([bufferSize - 1, bufferSize, bufferSize + 1, bufferSize + r.int(2, 3000)]);
	const remaining = Math.max(4, size - 3);
	// Mostly a PUBLISH with QoS 1 or 2 (any DUP and RETAIN), else any first byte.
	const first = r.bool(0.6) ? 0x30 | (r.int(1, 2) << 1) | (r.bool() ? 8 : 0) | (r.bool() ? 1 : 0)
		: r.pick([0x36, 0x30 | r.int(0, 15), (r.int(1, 15) << 4) | r.int(0, 15), 0x90, 0x40, 0xe0, 0x20]);
	const length: number[] = [];
	for (let v = remaining; ;) {
		const digit = v % 128;
		v = Math.floor(v / 128);
		length.push(v > 0 ? digit | 0x80 : digit);
		if (!v) break;
	}
	const bytes = new Uint8Array(1 + length.length + remaining);
	bytes.set([first, ...length]);
	const topic = r.bool(0.6) ? [0, 3, 0x61, 0x2f, 0x62] : r.pick([[0, 0], [0xff, 0xff], [0, 2, 0xc3, 0x28], [0, 3, 0x61, 0x2f, 0x23]]);
	const id = r.pick([[0, 0], [0, 0], [0, 1], [0xff, 0xff], [0, r.int(1, 10)]]);
	const head = [...topic, ...id, ...(version === 5 ? [r.pick([0, 1, 0x80])] : [])];
	bytes.set(head.slice(0, remaining), 1 + length.length);
	return bytes;
}

function brokerStream(r: Rand, version: ProtocolVersion, bufferSize: number): Uint8Array {
	const roll = r.next();
	if (roll < 0.08) return r.bytes(r.int(0, 300));
	const connack = r.bool(0.9) ? connackBytes(r, version, bufferSize) : new Uint8Array(0);
	const parts: Uint8Array[] = [];
	const n = r.int(0, 12);
	for (let i = 0; i < n; i++) {
		if (r.bool(0.2)) parts.push(oddBytes(r, version, bufferSize));
		else {
			try {
				parts.push(encode(brokerPacket(r, version, bufferSize), version));
			}
			catch {
				// A generated packet our encoder refuses: skip it.
			}
		}
	}
	const rest = Buffer.concat(parts);
	// Mutations hit the CONNACK too, but mostly what follows an accepted connection.
	if (roll < 0.2) return mutate(r, Buffer.concat([connack, rest]));
	return Buffer.concat([connack, roll < 0.6 ? mutate(r, rest) : rest]);
}

for (const version of [4, 5] as const) {
	test(`v${version}: ${CASES_PER_VERSION} random, mutated and oversize broker streams through the whole client: nothing escapes, nothing internal, only valid bytes written`, (t) => {
		const problems: string[] = [];
		const stats: Stats = { connected: 0, messages: 0, closes: {}, warnings: {} };
		if (process.env.FUZZ_CASE) {
			t.deepEqual(runCase(Number(process.env.FUZZ_CASE) >>> 0, version, stats) ?? [], []);
			return;
		}
		for (let index = 0; index < CASES_PER_VERSION && problems.length < 5; index++) {
			const seed = (BASE_SEED + version * 1_000_003 + index * 7_919) >>> 0;
			const problem = runCase(seed, version, stats);
			if (problem) problems.push(`FUZZ_CASE=${seed} (case ${index}): ${problem}`);
		}
		t.deepEqual(problems, []);
		t.log(JSON.stringify(stats));
		// The corpus reached the interesting places.
		t.true(stats.connected > CASES_PER_VERSION / 3, `connected ${stats.connected}`);
		t.true(stats.messages > CASES_PER_VERSION / 20, `messages ${stats.messages}`);
		t.true((stats.closes.protocol_error ?? 0) > CASES_PER_VERSION / 10, `protocol errors ${stats.closes.protocol_error}`);
		t.true((stats.warnings.packet_too_large_inbound ?? 0) > 50, `oversize ${stats.warnings.packet_too_large_inbound}`);
		t.true((stats.closes.keepalive_timeout ?? 0) + (stats.closes.link_stalled ?? 0) > 50, "timers fired");
	});
}

/** Runs one case; returns a description of the first problem, or undefined. */
function runCase(seed: number, version: ProtocolVersion, stats: Stats): string | undefined {
	const r = new Rand(seed);
	const time = new VirtualTime();
	const net = new FakeNet(version, () => time.now);
	const bufferSize = r.pick([64, 128, 1024]);
	const keepAlive = r.pick([0, 1, 10, 60]);
	const socketTimeout = r.pick([1, 5, 30]);
	const closes: CloseInfo[] = [];
	let problem: string | undefined;
	const fail = (what: string) => { problem ??= what; };
	const handler = r.pick(["sync", "sync", "throws", "pending"] as const);
	let client!: MQTTClient;
	client = new MQTTClient({
		transport: net.factory,
		clock: time.clock(),
		protocolVersion: version,
		bufferSize,
		keepAlive,
		socketTimeout,
		inflightWindow: r.pick([1, 2, 8]),
		onConnect: () => { stats.connected++; },
		onClose: (info) => {
			closes.push(info);
			stats.closes[info.code] = (stats.closes[info.code] ?? 0) + 1;
			if (info.code === "internal_error") fail(`internal error: ${info.message}`);
		},
		onWarning: (d) => {
			stats.warnings[d.code] = (stats.warnings[d.code] ?? 0) + 1;
			if (d.code === "callback_error") fail(`callback error: ${d.message}`);
		},
		onMessage: (m: Message) => {
			stats.messages++;
			if (client.state === "disconnected") fail(`message on ${m.topic} delivered while disconnected`);
			if (handler === "throws") throw new Error("application bug");
			if (handler === "pending") return new Promise(() => {});
			return undefined;
		},
	});
	const guard = (where: string, call: () => void) => {
		try {
			call();
		}
		catch (e) {
			fail(`${where} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
		}
	};

	let attempts = 0;
	const connect = () => {
		guard("connect()", () => {
			const outcome = client.connect({ host: "fuzz", port: 1883, clientId: "fuzz", cleanStart: r.bool(0.7), username: "u", password: "p" });
			if (outcome.ok) attempts++;
		});
		const tr = net.transports.at(-1);
		if (tr && !tr.closedByClient) guard("onConnect", () => tr.open());
	};
	connect();

	for (let round = 0; round < r.int(1, 3) && !problem; round++) {
		const tr = net.transports.at(-1) as FakeTransport | undefined;
		if (!tr) break;
		const stream = brokerStream(r, version, bufferSize);
		for (let i = 0; i < stream.length && !problem;) {
			const n = r.bool(0.3) ? 1 : r.int(1, 200);
			guard("onData", () => tr.receive(stream.subarray(i, i + n)));
			i += n;
			act(r, client, tr, time, guard);
		}
		guard("timers", () => time.advance(r.int(0, 3) * Math.max(1, keepAlive + socketTimeout) * 1000));
		if (client.state === "disconnected" && r.bool(0.6)) connect();
	}
	guard("close()", () => client.close());
	guard("timers", () => time.advance(200_000));

	if (closes.length > attempts) fail(`${closes.length} closes for ${attempts} connection attempts`);
	for (const tr of net.transports) {
		const { packets, error } = mpParse(tr.chunks, version);
		if (error) fail(`the client wrote bytes mqtt-packet cannot parse: ${error.message}`);
		for (const p of packets) {
			if ("id" in p && p.id !== undefined && !(p.id >= 1 && p.id <= 0xffff)) fail(`the client wrote ${p.type} with packet identifier ${p.id}`);
			if (p.type === "connack" || p.type === "suback" || p.type === "unsuback" || p.type === "pingresp") fail(`the client wrote a ${p.type}`);
		}
	}
	return problem;
}

/** Something the application or the network does between two chunks. */
function act(r: Rand, client: MQTTClient, tr: FakeTransport, time: VirtualTime, guard: (where: string, call: () => void) => void): void {
	const roll = r.next();
	if (roll < 0.25) {
		guard("publish()", () => {
			client.publish(r.pick(["s/t", "s/u"]), r.bytes(r.int(0, 80)), { qos: r.int(0, 2) as QoS, retain: r.bool(0.2) });
		});
		if (client.queuedBytes > 64 * 1024) guard("queue", () => { throw new Error(`send queue of ${client.queuedBytes} bytes`); });
	}
	else if (roll < 0.3) guard("subscribe()", () => { client.subscribe([{ topic: "cmd/#", qos: 1 }, { topic: "cfg", qos: r.int(0, 2) as QoS }]); });
	else if (roll < 0.32) guard("unsubscribe()", () => { client.unsubscribe("cmd/#"); });
	else if (roll < 0.42) guard("timers", () => time.advance(r.int(0, 40_000)));
	else if (roll < 0.47) {
		tr.room = r.bool() ? 0 : r.int(1, 50);
	}
	else if (roll < 0.52) guard("onWritable", () => tr.drain(r.bool(0.7) ? undefined : r.int(0, 30)));
	else if (roll < 0.53) guard("onClose", () => { if (!tr.closedByPeer && !tr.closedByClient) tr.hangUp(); });
	else if (roll < 0.54) guard("disconnect()", () => client.disconnect());
}

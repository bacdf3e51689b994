/*
 * Codec micro-benchmark: our modules/mqttclient/codec.ts (encode, incremental Decoder) against
 * mqtt-packet (generate, parser), on the same packets, MQTT 3.1.1.
 *
 * Each case runs in batches until at least `minMs` have passed and reports operations per
 * second; the whole set runs `runs` times, interleaving ours and theirs so machine drift hits
 * both, and the median is kept. Before measuring, both encoders must produce the same bytes and
 * both decoders must accept them.
 */

import { generate, parser } from "mqtt-packet";
import type { IConnectPacket, IPubackPacket, IPublishPacket, Packet as WirePacket } from "mqtt-packet";
import { Decoder, encode } from "mqttclient/codec";
import type { Packet } from "mqttclient/packets";
import { makePayload, TELEMETRY_TOPIC } from "./common";

export interface CodecCase {
	name: string;
	/** Encoded size in bytes. */
	bytes: number;
	ours: Packet;
	theirs: WirePacket;
}

export interface CodecFigure {
	case: string;
	operation: "encode" | "decode";
	bytes: number;
	/** Median ops/s over the runs. */
	ours: number;
	theirs: number;
	oursRuns: number[];
	theirsRuns: number[];
}

const CLIENT_ID = "sensor_a1b2c3d4e5f6";

function base64url(text: string | Buffer): string {
	return Buffer.from(text).toString("base64url");
}

/** An ES256 JWT as the firmware sends it as its MQTT password (EMQX JWT auth): ~200 bytes. */
export function sampleJwt(): string {
	const header = base64url(JSON.stringify({ alg: "ES256", typ: "JWT" }));
	const claims = base64url(JSON.stringify({ sub: CLIENT_ID, iat: 1732262400, exp: 1732266000 }));
	const signature = base64url(Buffer.alloc(64, 0xa5));
	return `${header}.${claims}.${signature}`;
}

export function codecCases(): CodecCase[] {
	const payload = makePayload();
	const jwt = Buffer.from(sampleJwt(), "utf8");
	const publish: IPublishPacket = { cmd: "publish", topic: TELEMETRY_TOPIC, payload, qos: 1, messageId: 4242, retain: false, dup: false };
	const connect: IConnectPacket = {
		cmd: "connect",
		protocolId: "MQTT",
		protocolVersion: 4,
		clean: true,
		keepalive: 60,
		clientId: CLIENT_ID,
		username: CLIENT_ID,
		password: jwt,
	};
	const puback: IPubackPacket = { cmd: "puback", messageId: 4242 };
	const cases: Omit<CodecCase, "bytes">[] = [
		{
			name: `PUBLISH QoS 1, ${payload.length} B payload, ${TELEMETRY_TOPIC.length}-char topic`,
			ours: { type: "publish", topic: TELEMETRY_TOPIC, payload, qos: 1, id: 4242, retain: false, dup: false },
			theirs: publish,
		},
		{
			name: `CONNECT, ${jwt.length} B JWT password`,
			ours: { type: "connect", protocolVersion: 4, clientId: CLIENT_ID, keepAlive: 60, cleanStart: true, username: CLIENT_ID, password: new Uint8Array(jwt) },
			theirs: connect,
		},
		{ name: "PUBACK", ours: { type: "puback", id: 4242 }, theirs: puback },
	];
	return cases.map((c) => {
		const ours = encode(c.ours, 4);
		const theirs = generate(c.theirs);
		if (!Buffer.from(ours).equals(theirs)) {
			throw new Error(`${c.name}: the two encoders disagree\n ours   ${Buffer.from(ours).toString("hex")}\n theirs ${theirs.toString("hex")}`);
		}
		return { ...c, bytes: ours.length };
	});
}

/** Ops/s of `fn`, run in batches (sized to ~5 ms) until `minMs` have passed. */
function opsPerSecond(fn: (n: number) => void, minMs: number): number {
	let batch = 1;
	for (;;) {
		const t0 = performance.now();
		fn(batch);
		if (performance.now() - t0 >= 5 || batch >= 1 << 24) break;
		batch *= 2;
	}
	let ops = 0;
	const start = performance.now();
	let elapsed = 0;
	do {
		fn(batch);
		ops += batch;
		elapsed = performance.now() - start;
	} while (elapsed < minMs);
	return (ops * 1000) / elapsed;
}

/** Keeps results alive so the work cannot be optimised away. */
let sink = 0;

function encoders(c: CodecCase): { ours: (n: number) => void; theirs: (n: number) => void } {
	return {
		ours: (n) => {
			for (let i = 0; i < n; i++) sink += encode(c.ours, 4).length;
		},
		theirs: (n) => {
			for (let i = 0; i < n; i++) sink += generate(c.theirs).length;
		},
	};
}

function decoders(c: CodecCase): { ours: (n: number) => void; theirs: (n: number) => void } {
	const wire = generate(c.theirs);
	// The bytes as our transport hands them over: a Uint8Array view of Node's Buffer.
	const view = new Uint8Array(wire.buffer, wire.byteOffset, wire.byteLength);
	let oursPackets = 0;
	const decoder = new Decoder({
		maxPacketSize: 1024,
		protocolVersion: 4,
		onPacket: () => {
			oursPackets++;
		},
		onOversize: () => {
			throw new Error("oversize");
		},
		onError: (e) => {
			throw e;
		},
	});
	let theirsPackets = 0;
	const theirParser = parser({ protocolVersion: 4 });
	theirParser.on("packet", () => {
		theirsPackets++;
	});
	theirParser.on("error", (e: Error) => {
		throw e;
	});
	return {
		ours: (n) => {
			const before = oursPackets;
			for (let i = 0; i < n; i++) decoder.push(view);
			if (oursPackets - before !== n) throw new Error(`${c.name}: our Decoder produced ${oursPackets - before} packets for ${n}`);
		},
		theirs: (n) => {
			const before = theirsPackets;
			for (let i = 0; i < n; i++) theirParser.parse(wire);
			if (theirsPackets - before !== n) throw new Error(`${c.name}: mqtt-packet produced ${theirsPackets - before} packets for ${n}`);
		},
	};
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = sorted.length >> 1;
	return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function runCodecBench(options: { minMs: number; runs: number; progress?: (line: string) => void }): CodecFigure[] {
	const cases = codecCases();
	const work = cases.flatMap((c) => [
		{ c, operation: "encode" as const, fns: encoders(c) },
		{ c, operation: "decode" as const, fns: decoders(c) },
	]);
	const oursRuns = work.map(() => [] as number[]);
	const theirsRuns = work.map(() => [] as number[]);
	// Warm-up: let the JIT settle on every function before the first measured run.
	for (const w of work) {
		opsPerSecond(w.fns.ours, options.minMs / 5);
		opsPerSecond(w.fns.theirs, options.minMs / 5);
	}
	for (let run = 0; run < options.runs; run++) {
		work.forEach((w, i) => {
			oursRuns[i].push(opsPerSecond(w.fns.ours, options.minMs));
			theirsRuns[i].push(opsPerSecond(w.fns.theirs, options.minMs));
		});
		options.progress?.(`codec run ${run + 1}/${options.runs} done`);
	}
	if (sink === -1) console.log(sink);
	return work.map((w, i) => ({
		case: w.c.name,
		operation: w.operation,
		bytes: w.c.bytes,
		ours: median(oursRuns[i]),
		theirs: median(theirsRuns[i]),
		oursRuns: oursRuns[i],
		theirsRuns: theirsRuns[i],
	}));
}

export { median };

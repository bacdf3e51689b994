/*
 * The updater's logic in XS: manifest checks, the canonical signed text, the HTTP client over the
 * TCP port, Range resume after a cut, backoff, the streamed digest and the rollback record, on a
 * virtual clock with a fake HTTP server. Synchronous and platform-free, so it runs the same inside
 * xsnap and on Node (test-host/test/ota-xs.test.ts compares the two).
 *
 * XS has no ECDSA here: the verifier port accepts exactly the canonical bytes and signature Node
 * signed (passed in), so what is checked in XS is that XS builds the same bytes to verify.
 */

import { toHex, utf8Decode, utf8Encode } from "bytes";
import type { TransportFactory } from "mqttclient/transport";
import { Logger } from "../../src/events";
import { canonicalText, parseManifest } from "../../src/ota/manifest";
import { Updater, type Progress } from "../../src/ota/updater";
import type { BootControl, Digest, FirmwareWriter, LogRecord, OtaCrypto } from "../../src/ports";
import { MemoryStore } from "./fakes";
import { sha256 } from "./sha256";
import { VirtualClock } from "./virtual-clock";

export interface OtaScenarioInput {
	/** Signed by Node: a good manifest for IMAGE_SIZE bytes of image(), and its canonical text hex. */
	manifest: string;
	canonicalHex: string;
	signature: string;
	publicKey: string;
}

export const IMAGE_SIZE = 40_000;
export const CUT_AFTER = 12_345;

/** The image both sides make: deterministic bytes. */
export function image(flip = -1): Uint8Array {
	const out = new Uint8Array(IMAGE_SIZE);
	let x = 0x12345678;
	for (let i = 0; i < out.length; i++) {
		x = (Math.imul(x, 1103515245) + 12345) >>> 0;
		out[i] = x >>> 24;
	}
	if (flip >= 0) out[flip] ^= 1;
	return out;
}

export function imageSha256(): string {
	return toHex(sha256(image()));
}

interface Request {
	atMs: number;
	head: string;
}

export interface OtaSummary {
	canonicalMatches: boolean;
	progress: Progress[];
	requests: Request[];
	restarts: string[];
	written: number;
	finished: boolean;
	events: string[];
	reasons: string[];
	stored: string | undefined;
}

/** A fake image server on the TCP port: answers GET (with Range), cuts the first answer, can flip a byte. */
function server(clock: VirtualClock, requests: Request[], state: { flip: number; cuts: number }): TransportFactory {
	return (_options, events) => {
		let closed = false;
		let got = "";
		clock.set(() => events.onConnect(), 5);
		return {
			writable: 4096,
			write(bytes) {
				got += utf8Decode(bytes) ?? "";
				if (!got.endsWith("\r\n\r\n")) return;
				requests.push({ atMs: clock.now(), head: got.split("\r\n").filter((l) => /^(GET|Range)/.test(l)).join(" | ") });
				const range = /Range: bytes=(\d+)-/.exec(got);
				const start = range ? Number(range[1]) : 0;
				const body = image(state.flip).subarray(start);
				const head = range
					? `HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\nContent-Range: bytes ${start}-${IMAGE_SIZE - 1}/${IMAGE_SIZE}\r\n\r\n`
					: `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
				const limit = state.cuts > 0 ? CUT_AFTER : body.length;
				const cut = state.cuts > 0;
				if (cut) state.cuts--;
				clock.set(() => !closed && events.onData(utf8Encode(head)), 5);
				for (let at = 0, n = 0; at < limit; at += 1460, n++) {
					const piece = body.subarray(at, Math.min(limit, at + 1460));
					clock.set(() => !closed && events.onData(piece), 10 + n);
				}
				if (cut) clock.set(() => !closed && events.onClose({ code: "reset", message: "connection reset by peer" }), 10 + Math.ceil(limit / 1460) + 1);
			},
			close() {
				closed = true;
			},
		};
	};
}

export function runOta(input: OtaScenarioInput): OtaSummary {
	const clock = new VirtualClock(Date.UTC(2026, 10, 30, 12, 0, 0));
	const records: LogRecord[] = [];
	const log = new Logger(clock, (r) => records.push(r));
	const requests: Request[] = [];
	const faults = { flip: -1, cuts: 1 };
	const progress: Progress[] = [];
	const restarts: string[] = [];
	let written = 0;
	let finished = false;
	let canonicalSeen = "";
	const writer: FirmwareWriter = {
		capacity: 64 * 1024,
		begin: () => {
			written = 0;
			finished = false;
		},
		write: (bytes) => {
			written += bytes.length;
		},
		finish: () => {
			finished = true;
		},
		abort: () => {},
	};
	const boot: BootControl = { running: () => ({ version: "0.1.0", slot: "ota_0" }), pendingVerify: () => false, markValid: () => {}, rollback: () => {} };
	const crypto: OtaCrypto = {
		sha256(): Digest {
			const parts: Uint8Array[] = [];
			return {
				update: (bytes) => void parts.push(bytes.slice()),
				finish: () => {
					const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
					let at = 0;
					for (const p of parts) {
						all.set(p, at);
						at += p.length;
					}
					return sha256(all);
				},
			};
		},
		verify: (key, message, signature) => {
			canonicalSeen = toHex(message);
			return toHex(key) === input.publicKey && toHex(message) === input.canonicalHex && toHex(signature) === input.signature;
		},
	};
	const store = new MemoryStore();
	const updater = new Updater({
		ports: { writer, boot, crypto, http: server(clock, requests, faults) },
		clock, store, log, random: () => 0.5,
		firmware: { name: "esp32-sensor", board: "esp32s3" },
		publicKey: input.publicKey,
		report: (p) => progress.push(p),
		restart: (reason) => restarts.push(reason),
		led: () => {},
		limits: { backoffFloorMs: 1000, stallMs: 8000 },
	});
	updater.start();
	const parsed = parseManifest(input.manifest);
	const canonicalMatches = parsed.ok && toHex(utf8Encode(canonicalText(parsed.manifest))) === input.canonicalHex;
	// 1: the good manifest, with one cut: resumes with Range and completes.
	updater.receive(input.manifest, "device");
	clock.advance(60_000);
	// 2: tampered (size changed): bad signature.
	const m = JSON.parse(input.manifest) as Record<string, unknown>;
	const updater2 = new Updater({
		ports: { writer, boot, crypto, http: server(clock, requests, faults) },
		clock, store: new MemoryStore(), log, random: () => 0.5,
		firmware: { name: "esp32-sensor", board: "esp32s3" },
		publicKey: input.publicKey,
		report: (p) => progress.push(p),
		restart: (reason) => restarts.push(reason),
		led: () => {},
	});
	updater2.receive(JSON.stringify({ ...m, size: IMAGE_SIZE + 1 }), "device");
	// 3: the right manifest but a flipped byte on the wire: digest mismatch.
	faults.flip = 20_000;
	updater2.receive(input.manifest, "device");
	clock.advance(60_000);
	updater2.receive("{not json", "fleet");
	return {
		canonicalMatches: canonicalMatches && canonicalSeen.length > 0,
		progress,
		requests,
		restarts,
		written,
		finished,
		events: records.map((r) => r.event),
		reasons: progress.filter((p) => p.reason).map((p) => p.reason as string),
		stored: store.get("ota.attempt") as string | undefined,
	};
}

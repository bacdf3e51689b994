/*
 * Host crypto, randomness, system and console adapters.
 */

import { createHmac, randomBytes } from "node:crypto";
import { formatHuman, formatJson } from "../../src/events";
import { pushBounded } from "./bounded";
import { mulberry32 } from "./prng";
import type { HmacSha256, LogRecord, LogSink, Random, System } from "../../src/ports";

export const nodeHmac: HmacSha256 = (key, data) => new Uint8Array(createHmac("sha256", key).update(data).digest());

export const cryptoRandom: Random = {
	float: () => randomBytes(4).readUInt32BE(0) / 0x1_0000_0000,
	bytes: (n) => new Uint8Array(randomBytes(n)),
};

/** A deterministic Random (mulberry32), so simulated fleets are reproducible. */
export function seededRandom(seed: number): Random {
	const float = mulberry32(seed);
	return { float, bytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(float() * 256)) };
}

export class HostSystem implements System {
	readonly #onRestart: (reason: string) => void;
	readonly #baseFree: number;
	/** Reasons of the last 100 restarts, oldest first. */
	restarts: string[] = [];

	/** @param onRestart what "rebooting" means here: the harness boots a fresh device on the same store */
	constructor(onRestart: (reason: string) => void, baseFree = 186_000) {
		this.#onRestart = onRestart;
		this.#baseFree = baseFree;
	}

	restart(reason: string): void {
		pushBounded(this.restarts, reason, 100);
		this.#onRestart(reason);
	}

	freeMemory(): number | undefined {
		// An ESP32-S3-like figure that moves a little, not the host's memory.
		return this.#baseFree - (Math.floor(process.memoryUsage().heapUsed / 1024) % 4096);
	}
}

export type LogFormat = "human" | "json";

export function consoleSink(format: LogFormat, write: (line: string) => void = (line) => process.stdout.write(line + "\n")): LogSink {
	return (record: LogRecord) => write(format === "json" ? formatJson(record) : formatHuman(record));
}

/**
 * Keeps every record, for tests (which count and order them over the whole run). Not for a
 * long-running simulator: `npm start` writes records to the console (consoleSink) instead.
 */
export class RecordingSink {
	readonly records: LogRecord[] = [];
	readonly sink: LogSink = (record) => {
		this.records.push(record);
	};
	events(name: string): LogRecord[] {
		return this.records.filter((r) => r.event === name);
	}
	names(): string[] {
		return this.records.map((r) => r.event);
	}
}

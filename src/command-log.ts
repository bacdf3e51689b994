/*
 * The commands executed last, so that each commandId runs at most once, across restarts too.
 *
 * A QoS 1 command can come again: redelivered by the broker after a reconnect or a reboot (the
 * device restarted before its PUBACK went out, or a persistent session), or resent by a backend
 * that saw no answer. The log remembers the ids of the last COMMAND_LOG_SIZE commands executed:
 *
 * - in the store, under one key, as fixed-size 64-bit hashes (16 hex characters each: 512
 *   characters for 32 ids, whatever the ids' length). The id is written before the command runs,
 *   one flash write per command executed (rejected, duplicate and rate-limited commands write
 *   nothing): a power cut between the two can lose a command, never run one twice.
 * - in RAM, with the answer each got in this boot, so a redelivery is answered with the very same
 *   answer. After a restart only the ids are known; a redelivery is then answered
 *   {"status":"ok","result":{"duplicate":true}}.
 *
 * Two different ids share a hash with a probability of about 32 in 2^64 per command: negligible.
 */

import type { Persisted } from "./persistence";

/** Command ids remembered (the store key holds 16 characters per id). */
export const COMMAND_LOG_SIZE = 32;

const HASH_LENGTH = 16;
const LOG_TEXT = /^(?:[0-9a-f]{16})*$/;

/** Two 32-bit FNV-1a hashes (different offset bases) of the id's code units, as 16 hex characters. */
function hashId(id: string): string {
	let a = 0x811c9dc5;
	let b = 0x01000193 ^ 0x5bd1e995;
	for (let i = 0; i < id.length; i++) {
		const c = id.charCodeAt(i);
		a = Math.imul(a ^ c, 0x01000193);
		b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
	}
	return hex8(a) + hex8(b);
}

function hex8(n: number): string {
	const text = (n >>> 0).toString(16);
	return "00000000".slice(text.length) + text;
}

export class CommandLog<T> {
	readonly #persisted: Persisted;
	/** Hash -> the answer given in this boot (undefined for ids known from the store), oldest first. */
	readonly #entries = new Map<string, T | undefined>();

	/** Loads the ids the store holds (a corrupt value is ignored, with a store.warning). */
	constructor(persisted: Persisted) {
		this.#persisted = persisted;
		const text = persisted.commandLog((t) => LOG_TEXT.test(t) && t.length <= COMMAND_LOG_SIZE * HASH_LENGTH);
		if (text === undefined) return;
		for (let i = 0; i < text.length; i += HASH_LENGTH) this.#entries.set(text.slice(i, i + HASH_LENGTH), undefined);
	}

	/** Whether a command with this id has been executed (in this boot or one of the last). */
	has(commandId: string): boolean {
		return this.#entries.has(hashId(commandId));
	}

	/** The answer it got in this boot, if any. */
	response(commandId: string): T | undefined {
		return this.#entries.get(hashId(commandId));
	}

	/** Records the id before the command runs: one store write. */
	record(commandId: string): void {
		const hash = hashId(commandId);
		this.#entries.delete(hash);
		this.#entries.set(hash, undefined);
		while (this.#entries.size > COMMAND_LOG_SIZE) this.#entries.delete(this.#entries.keys().next().value as string);
		let text = "";
		for (const key of this.#entries.keys()) text += key;
		this.#persisted.saveCommandLog(text);
	}

	/** Keeps the answer for a redelivery in this boot (RAM only). */
	answered(commandId: string, response: T): void {
		const hash = hashId(commandId);
		if (this.#entries.has(hash)) this.#entries.set(hash, response);
	}
}

/*
 * Key-value stores for the host: in memory (tests) or a JSON file in --data-dir (the simulator),
 * with the same 15-character key limit as the board's NVS so a long key fails here first.
 */

import fs from "node:fs";
import path from "node:path";
import type { KeyValueStore, StoredValue } from "../../src/ports";
import { checkKey, checkValue } from "./memory-store";

export { MemoryStore } from "./memory-store";

export class FileStore implements KeyValueStore {
	readonly #file: string;
	#values: Record<string, StoredValue>;

	constructor(directory: string) {
		fs.mkdirSync(directory, { recursive: true });
		this.#file = path.join(directory, "preferences.json");
		this.#values = FileStore.#load(this.#file);
	}

	static #load(file: string): Record<string, StoredValue> {
		try {
			const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
			return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, StoredValue>) : {};
		}
		catch {
			return {};
		}
	}

	get(key: string): StoredValue | undefined {
		checkKey(key);
		return this.#values[key];
	}
	set(key: string, value: StoredValue): void {
		checkKey(key);
		checkValue(value);
		this.#values[key] = value;
		this.#save();
	}
	delete(key: string): void {
		checkKey(key);
		delete this.#values[key];
		this.#save();
	}
	#save(): void {
		const temporary = this.#file + ".tmp";
		fs.writeFileSync(temporary, JSON.stringify(this.#values, null, 2));
		fs.renameSync(temporary, this.#file);
	}
}

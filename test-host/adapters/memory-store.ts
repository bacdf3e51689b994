/*
 * An in-memory key-value store with the board's limits (NVS keys of 1 to 15 characters, no
 * floats), so a key too long fails here first. Plain ECMAScript: the XS scenario uses it too.
 */

import type { KeyValueStore, StoredValue } from "../../src/ports";

export function checkKey(key: string): void {
	if (!key || key.length > 15) throw new RangeError(`key "${key}" must be 1 to 15 characters (ESP32 NVS)`);
}

export function checkValue(value: StoredValue): void {
	if (typeof value === "number" && !Number.isInteger(value)) throw new TypeError("float unsupported (as on the board)");
}

export class MemoryStore implements KeyValueStore {
	readonly values = new Map<string, StoredValue>();
	get(key: string): StoredValue | undefined {
		checkKey(key);
		return this.values.get(key);
	}
	set(key: string, value: StoredValue): void {
		checkKey(key);
		checkValue(value);
		this.values.set(key, value);
	}
	delete(key: string): void {
		checkKey(key);
		this.values.delete(key);
	}
}

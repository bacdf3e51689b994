/*
 * KeyValueStore port over Moddable's `preference` module (NVS on the ESP32), in one domain.
 *
 * NVS limits: domain and key names up to 15 characters, values up to about 4000 bytes, numbers
 * only as 32-bit integers (a fraction throws "float unsupported"). A number outside that range is
 * refused here with a clear error instead of being truncated. Every set() and delete() writes flash.
 */

import Preference from "preference";
import type { KeyValueStore, StoredValue } from "../ports";

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export class PreferenceStore implements KeyValueStore {
	readonly #domain: string;

	constructor(domain = "sensor") {
		if (!domain || domain.length > 15) throw new RangeError(`preference domain "${domain}" must be 1 to 15 characters`);
		this.#domain = domain;
	}

	get(key: string): StoredValue | undefined {
		const value = Preference.get(this.#domain, key);
		// Only the types this firmware writes; a blob (ArrayBuffer) is not one of them.
		return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? value : undefined;
	}

	set(key: string, value: StoredValue): void {
		if (typeof value === "number" && (!Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX))
			throw new RangeError(`${key}: only 32-bit integers can be stored as numbers (got ${value})`);
		Preference.set(this.#domain, key, value);
	}

	delete(key: string): void {
		Preference.delete(this.#domain, key);
	}
}

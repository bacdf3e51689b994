/*
 * What the device keeps across restarts, in the key-value store (Moddable preference on the
 * board, a file on the host), under a schema version: the remote configuration, MQTT
 * credentials (the set to try first and an alternate, so a rotation the broker does not accept
 * cannot strand the device), the last reboot reason, the power output, counters, the ids of the
 * commands executed last (src/command-log.ts) and, across a planned restart only, the messages
 * that were waiting to be sent (src/restart.ts). Corrupt or unknown values are ignored in favour
 * of defaults, with a warning; nothing here throws.
 *
 * Keys stay within ESP32 NVS's 15 characters, values well under its ~4000 bytes. Every write is a
 * flash write: each one here is caused by a rare event (a command, a rotation, a config change, a
 * boot, a planned restart), never by time passing or by telemetry.
 */

import type { KeyValueStore } from "./ports";
import type { RemoteConfig } from "./settings";
import { deepFreeze } from "frozen";

export const SCHEMA_VERSION = 1;

export interface Credentials {
	username: string;
	password: string;
	/** True once the broker accepted them. */
	verified: boolean;
}

export interface Counters {
	boots: number;
	watchdogRestarts: number;
}

export interface PowerState {
	on: boolean;
	brightness: number;
}

export type StoreWarning = (key: string, reason: string) => void;

const KEY = deepFreeze({
	schema: "schema",
	config: "config",
	credentials: "cred",
	alternate: "credAlt",
	reboot: "reboot",
	counters: "counters",
	power: "power",
	commandLog: "cmdLog",
	kept: "kept",
	setup: "setup",
	setupRequest: "setupReq",
} as const);

export class Persisted {
	readonly #store: KeyValueStore;
	readonly #warn: StoreWarning;
	readonly #usable: boolean;

	constructor(store: KeyValueStore, warn: StoreWarning) {
		this.#store = store;
		this.#warn = warn;
		this.#usable = this.#checkSchema();
	}

	#checkSchema(): boolean {
		const stored = this.#read(KEY.schema);
		if (stored === undefined) {
			this.#write(KEY.schema, SCHEMA_VERSION);
			return true;
		}
		if (stored !== SCHEMA_VERSION) {
			this.#warn(KEY.schema, `schema version ${String(stored)} is not ${SCHEMA_VERSION}; stored settings are ignored`);
			return false;
		}
		return true;
	}

	#read(key: string): string | number | boolean | undefined {
		try {
			return this.#store.get(key);
		}
		catch (e) {
			this.#warn(key, `cannot be read: ${String(e)}`);
			return undefined;
		}
	}

	#write(key: string, value: string | number | boolean): void {
		try {
			this.#store.set(key, value);
		}
		catch (e) {
			this.#warn(key, `cannot be written: ${String(e)}`);
		}
	}

	#delete(key: string): void {
		try {
			this.#store.delete(key);
		}
		catch (e) {
			this.#warn(key, `cannot be deleted: ${String(e)}`);
		}
	}

	/** A JSON object stored under `key`, checked by `valid`; undefined (with a warning) when absent or bad. */
	#readJson<T>(key: string, valid: (v: unknown) => v is T): T | undefined {
		if (!this.#usable) return undefined;
		const raw = this.#read(key);
		if (raw === undefined) return undefined;
		if (typeof raw !== "string") {
			this.#warn(key, `expected JSON text, found a ${typeof raw}`);
			return undefined;
		}
		let value: unknown;
		try {
			value = JSON.parse(raw);
		}
		catch {
			this.#warn(key, "is not valid JSON");
			return undefined;
		}
		if (!valid(value)) {
			this.#warn(key, "has the wrong shape");
			return undefined;
		}
		return value;
	}

	#writeJson(key: string, value: unknown): void {
		if (this.#usable) this.#write(key, JSON.stringify(value));
	}

	/** The remote configuration saved last; validated again by the caller. */
	remoteConfig(): unknown {
		return this.#readJson(KEY.config, (v): v is unknown => !!v && typeof v === "object" && !Array.isArray(v));
	}

	saveRemoteConfig(config: RemoteConfig): void {
		this.#writeJson(KEY.config, config);
	}

	credentials(): Credentials | undefined {
		return this.#readJson(KEY.credentials, isCredentials);
	}

	alternateCredentials(): Credentials | undefined {
		return this.#readJson(KEY.alternate, isCredentials);
	}

	/** Stores rotated credentials (unverified) to try first; the working ones become the alternate. */
	rotate(next: { username: string; password: string }, current: Credentials): Credentials {
		const rotated = { username: next.username, password: next.password, verified: false };
		this.#writeJson(KEY.alternate, current);
		this.#writeJson(KEY.credentials, rotated);
		return rotated;
	}

	/**
	 * The broker accepted `current`. When it was the rotated set, the rotation is complete and the
	 * alternate is forgotten; when it was the old set, an unverified alternate is kept in case the
	 * broker switches to it later.
	 */
	accepted(current: Credentials): Credentials {
		const verified = { ...current, verified: true };
		this.#writeJson(KEY.credentials, verified);
		if (!current.verified) this.#delete(KEY.alternate);
		return verified;
	}

	/** The broker refused `current`: the alternate (if any) becomes the set to try first. */
	swap(current: Credentials): Credentials | undefined {
		const alternate = this.alternateCredentials();
		if (!alternate) return undefined;
		this.#writeJson(KEY.credentials, alternate);
		this.#writeJson(KEY.alternate, current);
		return alternate;
	}

	/** Reads the reason recorded before the last restart and clears it. */
	takeRebootReason(): string | undefined {
		if (!this.#usable) return undefined;
		const raw = this.#read(KEY.reboot);
		if (raw === undefined) return undefined;
		this.#delete(KEY.reboot);
		if (typeof raw !== "string") {
			this.#warn(KEY.reboot, "is not text");
			return undefined;
		}
		return raw.slice(0, 120);
	}

	saveRebootReason(reason: string): void {
		if (this.#usable) this.#write(KEY.reboot, reason.slice(0, 120));
	}

	counters(): Counters {
		return this.#readJson(KEY.counters, isCounters) ?? { boots: 0, watchdogRestarts: 0 };
	}

	saveCounters(counters: Counters): void {
		this.#writeJson(KEY.counters, counters);
	}

	power(): PowerState | undefined {
		return this.#readJson(KEY.power, isPower);
	}

	savePower(power: PowerState): void {
		this.#writeJson(KEY.power, power);
	}

	/** The command log's text when `valid` accepts it; undefined (with a warning when bad) otherwise. */
	commandLog(valid: (text: string) => boolean): string | undefined {
		const text = this.#readText(KEY.commandLog);
		if (text === undefined || valid(text)) return text;
		this.#warn(KEY.commandLog, "is not a list of command id hashes");
		return undefined;
	}

	saveCommandLog(text: string): void {
		if (this.#usable) this.#write(KEY.commandLog, text);
	}

	/** What the previous boot kept for this one at a planned restart (read once: the key is deleted). */
	takeKept(): string | undefined {
		const text = this.#readText(KEY.kept);
		if (this.#usable && this.#read(KEY.kept) !== undefined) this.#delete(KEY.kept);
		return text;
	}

	saveKept(text: string): void {
		if (this.#usable) this.#write(KEY.kept, text);
	}

	/* Provisioning (src/provisioning/) ---------------------------------------------------- */

	/** The settings the setup page stored (a configuration patch, validated again by the caller). */
	setupSettings(): unknown {
		return this.#readJson(KEY.setup, (v): v is unknown => !!v && typeof v === "object" && !Array.isArray(v));
	}

	saveSetupSettings(patch: object): void {
		this.#writeJson(KEY.setup, patch);
	}

	/** Claimed (or set up) MQTT credentials: the set to try first, not yet accepted by the broker. */
	saveCredentials(next: { username: string; password: string }): void {
		this.#writeJson(KEY.credentials, { username: next.username, password: next.password, verified: false });
		this.#delete(KEY.alternate);
	}

	/** Whether setup mode was asked for: "forced" (factory reset, BOOT long press) or "fallback" (WiFi failing too long). */
	setupRequested(): "forced" | "fallback" | undefined {
		const value = this.#usable ? this.#read(KEY.setupRequest) : undefined;
		return value === "forced" || value === "fallback" ? value : undefined;
	}

	requestSetup(reason: "forced" | "fallback" | false): void {
		if (!this.#usable) return;
		if (reason) this.#write(KEY.setupRequest, reason);
		else if (this.#read(KEY.setupRequest) !== undefined) this.#delete(KEY.setupRequest);
	}

	/**
	 * Factory reset: forgets what setup and the backend wrote (settings, credentials, remote
	 * configuration, power state, command log, kept messages), keeps the boot counters, and asks
	 * for setup mode at the next boot.
	 */
	factoryReset(): void {
		for (const key of [KEY.setup, KEY.credentials, KEY.alternate, KEY.config, KEY.power, KEY.commandLog, KEY.kept, KEY.reboot])
			if (this.#read(key) !== undefined) this.#delete(key);
		this.#write(KEY.schema, SCHEMA_VERSION);
		this.#write(KEY.setupRequest, "forced");
	}

	#readText(key: string): string | undefined {
		if (!this.#usable) return undefined;
		const raw = this.#read(key);
		if (raw === undefined || typeof raw === "string") return raw;
		this.#warn(key, `expected text, found a ${typeof raw}`);
		return undefined;
	}
}

function isCredentials(v: unknown): v is Credentials {
	const c = v as Credentials;
	return !!c && typeof c === "object" && typeof c.username === "string" && typeof c.password === "string" && typeof c.verified === "boolean";
}

function isCounters(v: unknown): v is Counters {
	const c = v as Counters;
	return !!c && typeof c === "object" && Number.isInteger(c.boots) && c.boots >= 0 && Number.isInteger(c.watchdogRestarts) && c.watchdogRestarts >= 0;
}

function isPower(v: unknown): v is PowerState {
	const p = v as PowerState;
	return !!p && typeof p === "object" && typeof p.on === "boolean" && Number.isInteger(p.brightness) && p.brightness >= 0 && p.brightness <= 100;
}

/*
 * Firmware updates on the Linux target: a simulated two-slot flash on files, with the bootloader's
 * rollback rules run when the firmware starts (the runner's restart is the board's reset).
 *
 * Files under the file root (mc/config file.root): `ota-state.json` (active and next slot, each
 * slot's state) and `ota-slot0.bin`, `ota-slot1.bin`. Slot 0 without a file is the factory image:
 * this build, FIRMWARE_VERSION. A written slot must hold a simulated image (test-host/ota/image.ts:
 * "SIMFW1\n" + JSON header): its header is the version this "firmware" reports once booted.
 *
 * Rules (as ESP-IDF's with CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE): finish() makes the slot NEW and
 * next; the next start boots it PENDING_VERIFY; a start while the active slot is still PENDING_VERIFY
 * marks it ABORTED and goes back; a slot being written is never booted.
 */

import { File } from "file";
import { utf8Decode } from "bytes";
import type { BootControl, FirmwareWriter, OtaPorts, System, TransportFactory } from "../../ports";
import { FIRMWARE_VERSION } from "../../version";
import { moddableOtaCrypto } from "../ota-crypto";

type SlotState = "empty" | "writing" | "new" | "pending_verify" | "valid" | "aborted" | "invalid";

interface FlashState {
	active: number;
	next: number;
	states: SlotState[];
}

const MAGIC = "SIMFW1\n";

export interface FileFlashOptions {
	/** The file root (ends with "/" or a prefix such as "/tmp/sensor-firmware-"). */
	root: string;
	capacity: number;
	system: System;
}

export class FileFlash implements FirmwareWriter {
	readonly capacity: number;
	readonly #root: string;
	readonly #system: System;
	#state: FlashState;
	#file: File | undefined;
	#expected = 0;
	#written = 0;
	readonly #version: string;

	constructor(options: FileFlashOptions) {
		this.#root = options.root;
		this.capacity = options.capacity;
		this.#system = options.system;
		this.#state = this.#load();
		this.#boot();
		this.#version = this.#slotVersion(this.#state.active) ?? FIRMWARE_VERSION;
	}

	#path(name: string): string {
		return `${this.#root}${name}`;
	}

	#load(): FlashState {
		const fallback: FlashState = { active: 0, next: 0, states: ["valid", "empty"] };
		const path = this.#path("ota-state.json");
		if (!File.exists(path)) return fallback;
		try {
			const file = new File(path);
			const text = file.read(String);
			file.close();
			const value = JSON.parse(text) as FlashState;
			return (value.active === 0 || value.active === 1) && Array.isArray(value.states) ? value : fallback;
		}
		catch {
			return fallback;
		}
	}

	#save(): void {
		const path = this.#path("ota-state.json");
		File.delete(path);
		const file = new File(path, true);
		file.write(JSON.stringify(this.#state));
		file.close();
	}

	/** The bootloader's part, at every start. */
	#boot(): void {
		const s = this.#state;
		if (s.states[s.active] === "pending_verify") {
			s.states[s.active] = "aborted";
			trace(`<warn>OTA bootloader: slot ${s.active} was not confirmed: rolled back to slot ${1 - s.active}\n`);
			s.active = s.next = 1 - s.active;
		}
		if (s.next !== s.active && s.states[s.next] === "new") {
			s.states[s.next] = "pending_verify";
			s.active = s.next;
		}
		else s.next = s.active;
		this.#save();
		trace(`OTA bootloader: booting slot ${s.active} (${s.states[s.active]})\n`);
	}

	/** The version in a slot's image header; undefined for the factory slot without a file. */
	#slotVersion(slot: number): string | undefined {
		const path = this.#path(`ota-slot${slot}.bin`);
		if (!File.exists(path)) return undefined;
		const header = this.#header(path);
		return header?.version;
	}

	#header(path: string): { version: string } | undefined {
		try {
			const file = new File(path);
			const bytes = new Uint8Array(file.read(ArrayBuffer, Math.min(512, file.length)));
			file.close();
			// Only the header is text: the bytes after its newline are the image's filler.
			const end = bytes.indexOf(10, MAGIC.length);
			const text = end > 0 ? utf8Decode(bytes, 0, end) ?? "" : "";
			if (!text.startsWith(MAGIC)) return undefined;
			const header = JSON.parse(text.slice(MAGIC.length)) as { version?: unknown };
			return typeof header.version === "string" ? { version: header.version } : undefined;
		}
		catch {
			return undefined;
		}
	}

	get #update(): number {
		return 1 - this.#state.active;
	}

	begin(size: number): void {
		this.abort();
		if (size > this.capacity) throw new RangeError(`${size} bytes do not fit the ${this.capacity}-byte slot`);
		const path = this.#path(`ota-slot${this.#update}.bin`);
		this.#state.states[this.#update] = "writing";
		this.#state.next = this.#state.active;
		this.#save();
		File.delete(path);
		this.#file = new File(path, true);
		this.#expected = size;
		this.#written = 0;
	}

	write(bytes: Uint8Array): void {
		if (!this.#file) throw new Error("write before begin");
		if (this.#written + bytes.length > this.#expected) throw new RangeError("more bytes than begin() announced");
		this.#file.write(bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer as ArrayBuffer : bytes.slice().buffer as ArrayBuffer);
		this.#written += bytes.length;
	}

	finish(): void {
		const file = this.#file;
		if (!file) throw new Error("finish before begin");
		file.close();
		this.#file = undefined;
		if (this.#written !== this.#expected) throw new Error(`image incomplete: ${this.#written} of ${this.#expected} bytes`);
		if (!this.#header(this.#path(`ota-slot${this.#update}.bin`))) throw new Error("not a bootable image for the Linux target (no SIMFW1 header)");
		this.#state.states[this.#update] = "new";
		this.#state.next = this.#update;
		this.#save();
	}

	abort(): void {
		if (this.#file) {
			try {
				this.#file.close();
			}
			catch {
				// Already closed.
			}
			this.#file = undefined;
		}
		const u = this.#update;
		if (this.#state.states[u] === "writing" || this.#state.states[u] === "new") {
			this.#state.states[u] = "invalid";
			this.#state.next = this.#state.active;
			this.#save();
		}
	}

	readonly boot: BootControl = {
		running: () => ({ version: this.#version, slot: `slot${this.#state.active}` }),
		pendingVerify: () => this.#state.states[this.#state.active] === "pending_verify",
		markValid: () => {
			if (this.#state.states[this.#state.active] !== "pending_verify") return;
			this.#state.states[this.#state.active] = "valid";
			this.#save();
		},
		rollback: (reason: string) => {
			const s = this.#state;
			s.states[s.active] = "invalid";
			s.active = s.next = 1 - s.active;
			this.#save();
			this.#system.restart(`rollback: ${reason}`);
		},
	};
}

/** The Linux target's update ports: files for the flash, the board's TCP for downloads. */
export function linuxOta(tcp: TransportFactory, options: FileFlashOptions): OtaPorts {
	const flash = new FileFlash(options);
	return { writer: flash, boot: flash.boot, crypto: moddableOtaCrypto, http: tcp };
}

/*
 * A simulated two-slot flash and bootloader, with the ESP-IDF rollback rules:
 *
 * - finish() marks the written slot NEW and makes it the next boot;
 * - the bootloader boots a NEW slot as PENDING_VERIFY; a reset while PENDING_VERIFY (the image
 *   never called markValid) marks it ABORTED and boots the other slot again;
 * - a slot being written (or aborted) is never booted: power lost mid-write leaves the running
 *   image as it was.
 *
 * The flash outlives the simulated device (it is the board's), like the key-value store.
 * Optionally backed by files (one per slot + a state file), as the Linux target's flash.
 */

import type { BootControl, FirmwareWriter } from "../../src/ports";
import { readSimImage, type SimImageHeader } from "./image";

export type SlotState = "empty" | "writing" | "new" | "pending_verify" | "valid" | "aborted" | "invalid";

export interface Slot {
	name: string;
	state: SlotState;
	image: Buffer | undefined;
	/** Bytes written so far while writing. */
	written: number;
}

export interface BootRecord {
	slot: string;
	header: SimImageHeader;
	pendingVerify: boolean;
	/** A pending image was rolled back by this boot. */
	rolledBack?: string;
}

export class SimFlash {
	readonly slots: [Slot, Slot];
	readonly capacity: number;
	#active = 0;
	#next = 0;
	#expected = 0;
	/** What each boot did, oldest first. */
	readonly boots: BootRecord[] = [];
	/** Set by the owner: restart the device (rollback()). */
	onRestart: ((reason: string) => void) | undefined;

	constructor(factory: Buffer, options: { capacity?: number } = {}) {
		this.capacity = options.capacity ?? 1536 * 1024;
		(this.writer as { capacity: number }).capacity = this.capacity;
		this.slots = [
			{ name: "ota_0", state: "valid", image: factory, written: factory.length },
			{ name: "ota_1", state: "empty", image: undefined, written: 0 },
		];
	}

	get active(): Slot {
		return this.slots[this.#active];
	}

	/** The bootloader: at every reset, picks the slot to run. */
	boot(): BootRecord {
		let rolledBack: string | undefined;
		const current = this.slots[this.#active];
		if (current.state === "pending_verify") {
			current.state = "aborted";
			rolledBack = current.name;
			this.#active = this.#next = 1 - this.#active;
		}
		const next = this.slots[this.#next];
		if (this.#next !== this.#active && next.state === "new") {
			next.state = "pending_verify";
			this.#active = this.#next;
		}
		else this.#next = this.#active;
		const slot = this.slots[this.#active];
		const header = slot.image ? readSimImage(slot.image) : undefined;
		if (!header) throw new Error(`simulated bootloader: slot ${slot.name} holds no bootable image`);
		const record: BootRecord = { slot: slot.name, header, pendingVerify: slot.state === "pending_verify" };
		if (rolledBack) record.rolledBack = rolledBack;
		this.boots.push(record);
		return record;
	}

	/** The update slot (the one not running). */
	get updateSlot(): Slot {
		return this.slots[1 - this.#active];
	}

	readonly writer: FirmwareWriter = {
		capacity: 0,
		begin: (size) => {
			if (size > this.capacity) throw new RangeError(`${size} bytes do not fit the ${this.capacity}-byte slot`);
			const slot = this.updateSlot;
			slot.state = "writing";
			slot.image = Buffer.alloc(size);
			slot.written = 0;
			this.#expected = size;
			this.#next = this.#active;
		},
		write: (bytes) => {
			const slot = this.updateSlot;
			if (slot.state !== "writing" || !slot.image) throw new Error("write without begin");
			if (slot.written + bytes.length > this.#expected) throw new RangeError("more bytes than begin() announced");
			slot.image.set(bytes, slot.written);
			slot.written += bytes.length;
		},
		finish: () => {
			const slot = this.updateSlot;
			if (slot.state !== "writing") throw new Error("finish without begin");
			if (slot.written !== this.#expected) throw new Error(`image incomplete: ${slot.written} of ${this.#expected} bytes`);
			if (!slot.image || !readSimImage(slot.image)) throw new Error("not a bootable image (no image header)");
			slot.state = "new";
			this.#next = 1 - this.#active;
		},
		abort: () => {
			const slot = this.updateSlot;
			if (slot.state === "writing" || slot.state === "new") slot.state = "invalid";
			this.#next = this.#active;
		},
	};

	readonly bootControl: BootControl = {
		running: () => {
			const record = this.boots.at(-1);
			return { version: record?.header.version ?? "0.0.0", slot: record?.slot ?? this.active.name };
		},
		pendingVerify: () => this.active.state === "pending_verify",
		markValid: () => {
			if (this.active.state === "pending_verify") this.active.state = "valid";
		},
		rollback: (reason) => {
			const slot = this.active;
			slot.state = "invalid";
			this.#active = this.#next = 1 - this.#active;
			this.onRestart?.(`rollback: ${reason}`);
		},
	};
}

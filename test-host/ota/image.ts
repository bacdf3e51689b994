/*
 * Simulated firmware images: what the simulated two-slot flash boots. A real mcconfig .bin is just
 * bytes to the tools (signed by digest); a simulated image also says what it is, so the simulated
 * bootloader knows which version it booted:
 *
 *   "SIMFW1\n" + JSON header {name, version, board, fault?} + "\n" + filler bytes up to `size`.
 *
 * `fault: "cannot-connect"` makes the simulated firmware unable to reach any server (a broken new
 * image, for the rollback path).
 */

import { createHash } from "node:crypto";

export interface SimImageHeader {
	name: string;
	version: string;
	board: string;
	fault?: "cannot-connect";
}

const MAGIC = "SIMFW1\n";

export function makeSimImage(header: SimImageHeader, size = 96 * 1024): Buffer {
	const head = Buffer.from(`${MAGIC}${JSON.stringify(header)}\n`);
	if (head.length > size) throw new RangeError(`image size ${size} is smaller than its header`);
	const out = Buffer.alloc(size);
	head.copy(out);
	// Deterministic filler that differs per version (so two images never share a digest).
	let block = createHash("sha256").update(JSON.stringify(header)).digest();
	for (let at = head.length; at < size; at += block.length) {
		block.copy(out, at, 0, Math.min(block.length, size - at));
		block = createHash("sha256").update(block).digest();
	}
	return out;
}

export function readSimImage(bytes: Uint8Array): SimImageHeader | undefined {
	const text = Buffer.from(bytes.subarray(0, 512)).toString("latin1");
	if (!text.startsWith(MAGIC)) return undefined;
	const end = text.indexOf("\n", MAGIC.length);
	if (end < 0) return undefined;
	try {
		const header = JSON.parse(text.slice(MAGIC.length, end)) as SimImageHeader;
		return typeof header.version === "string" && typeof header.name === "string" ? header : undefined;
	}
	catch {
		return undefined;
	}
}

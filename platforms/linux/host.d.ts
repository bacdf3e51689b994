/*
 * Types of platforms/linux/host.js (host functions in platforms/linux/host.c).
 */

export interface XsMemory {
	/** Slots in use now (live and garbage since the last collection), the high-water mark, the heap's size. */
	slots: number;
	slotsPeak: number;
	slotsMax: number;
	/** Chunk heap, bytes. */
	chunks: number;
	chunksPeak: number;
	chunksMax: number;
	/** Stack, slots: the deepest use (instrumented builds only) and the size. */
	stackPeak?: number;
	stackMax: number;
	keys: number;
}

/** Leaves the main loop; the process exits with `code`. */
export function exit(code: number): void;
export function getenv(name: string): string | undefined;
/** SIGINT and SIGTERM call `callback` (once; a second signal exits at once). */
export function onSignal(callback: () => void): void;
export function memory(): XsMemory;
/** A garbage collection. */
export function collect(): void;

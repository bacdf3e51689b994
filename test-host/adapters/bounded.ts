/*
 * Bounded records for host-side statistics that a long-running simulator keeps (connections,
 * attempts, restarts): the last `limit` entries stay, older ones go, so memory does not grow with
 * the device's lifetime. Plain arrays, so tests keep filter, map, at(-1) and deepEqual.
 */

/** Appends `item`, then drops the oldest entries beyond `limit`. */
export function pushBounded<T>(list: T[], item: T, limit: number): void {
	list.push(item);
	if (list.length > limit) list.splice(0, list.length - limit);
}

/*
 * Deep freeze for module-level tables.
 *
 * Moddable preloads modules: their bodies run at build time and what they leave behind is stored
 * in flash. An object that is not frozen stays "aliasable": XS keeps a RAM pointer for it in case
 * it is modified, and the XS linker warns ("not frozen"). Tables that never change are therefore
 * frozen, recursively, where they are defined. (XS has `Object.freeze(o, true)` for this; other
 * engines ignore the second argument, so this walks the object itself.)
 */

/** Freezes `value` and everything reachable through its own properties; returns it. */
export function deepFreeze<T>(value: T): T {
	if ((typeof value === "object" && value !== null) || typeof value === "function") {
		if (Object.isFrozen(value)) return value;
		Object.freeze(value);
		for (const key of Reflect.ownKeys(value as object)) {
			const descriptor = Reflect.getOwnPropertyDescriptor(value as object, key);
			if (descriptor && "value" in descriptor) deepFreeze(descriptor.value);
		}
	}
	return value;
}

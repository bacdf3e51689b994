import test from "ava";
import { deepFreeze } from "../frozen";

test("freezes nested objects and arrays, and returns the same object", (t) => {
	const table = { a: { b: [1, { c: 2 }] }, d: /x/ };
	const frozen = deepFreeze(table);
	t.is(frozen, table);
	t.true(Object.isFrozen(table));
	t.true(Object.isFrozen(table.a));
	t.true(Object.isFrozen(table.a.b));
	t.true(Object.isFrozen(table.a.b[1]));
	t.true(Object.isFrozen(table.d));
	t.throws(() => {
		"use strict";
		(table.a.b[1] as { c: number }).c = 3;
	}, { instanceOf: TypeError });
});

test("leaves primitives alone and survives cycles", (t) => {
	t.is(deepFreeze(3), 3);
	t.is(deepFreeze(null), null);
	const cyclic: { self?: unknown } = {};
	cyclic.self = cyclic;
	t.is(deepFreeze(cyclic), cyclic);
	t.true(Object.isFrozen(cyclic));
});

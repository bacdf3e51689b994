/*
 * bytes: the native UTF-8 path gives the bytes the ECMAScript path gives (astral characters, U+0000,
 * lone surrogates replaced by U+FFFD as before), and base64url written on bytes matches Node's.
 *
 * The native path runs in the real XS engine (xsnap). xsnap is built with CESU-8 strings and has no
 * ArrayBuffer.fromString, so the test installs one with the behaviour of Moddable's
 * (xsDataView.c, fx_ArrayBuffer_fromString: the string's internal UTF-8, where a lone surrogate
 * is its own three-byte form, ED A0 80 for U+D800) before the module is evaluated, and counts
 * its calls.
 */

import test from "ava";
import { NATIVE_UTF8, asciiString, base64urlEncode, base64urlLength, base64urlWrite, utf8Encode, utf8EncodeJs } from "bytes";
import { bundleForXs } from "../../../test-host/xs/bundle";
import { XsWorker, requireXs } from "../../../test-host/xs/xsnap";

const xsTest = (await requireXs()) ? test : test.skip;

const SAMPLES = [
	"",
	"smarthome/home1/sensor_a1b2c3d4e5f6/telemetry",
	"nul\u0000inside",
	"d\u00e9j\u00e0 \u20ac \u{1f600} \u{10ffff}",
	"lone high \ud800 end",
	"lone low \udc00 start",
	"\ud800",
	"reversed \udc00\ud800 pair",
	"pair then lone \u{1f600}\ud83d",
	"x".repeat(5000) + "\u{1f600}",
];

/** Moddable's ArrayBuffer.fromString: the internal (generalized) UTF-8 of the string, lone surrogates included. */
const FROM_STRING = `
globalThis.nativeCalls = 0;
Object.defineProperty(ArrayBuffer, "fromString", { configurable: true, writable: true, value(s) {
	// Moddable's constructs its result with \`this\` ("new: not a constructor" otherwise).
	if (this !== ArrayBuffer) throw new TypeError("new: not a constructor");
	nativeCalls++;
	s = String(s);
	const out = [];
	for (let i = 0; i < s.length; i++) {
		let c = s.charCodeAt(i);
		if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
			const d = s.charCodeAt(i + 1);
			if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
		}
		if (c < 0x80) out.push(c);
		else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
		else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
		else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
	}
	return Uint8Array.from(out).buffer;
} });
0`;

test("on Node (no native conversion) utf8Encode is the ECMAScript path and agrees with Buffer", (t) => {
	t.false(NATIVE_UTF8);
	for (const s of SAMPLES) {
		t.deepEqual(Buffer.from(utf8Encode(s)), Buffer.from(s, "utf8"), JSON.stringify(s.slice(0, 30)));
		t.deepEqual(utf8Encode(s), utf8EncodeJs(s));
	}
});

for (const wellFormedCheck of [false, true]) {
	xsTest(`in XS with ArrayBuffer.fromString${wellFormedCheck ? " and String.prototype.isWellFormed" : ""}: the same bytes as the ECMAScript path, natively where it can`, async (t) => {
		const code = await bundleForXs("modules/bytes/test/entry-xs.ts", { globalName: "__bytes" });
		const worker = await XsWorker.start();
		try {
			await worker.evaluate(FROM_STRING);
			if (wellFormedCheck) {
				await worker.evaluate(`Object.defineProperty(String.prototype, "isWellFormed", { configurable: true, writable: true, value() {
					return !/[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?:^|[^\\ud800-\\udbff])[\\udc00-\\udfff]/.test(this);
				} }); 0`);
			}
			await worker.evaluate(code);
			t.true(await worker.evaluateJson<boolean>("__bytes.NATIVE_UTF8"));
			for (const s of SAMPLES) {
				const got = await worker.evaluateJson<{ native: number[]; js: number[]; calls: number }>(`(() => {
					const before = nativeCalls;
					const s = ${JSON.stringify(s)};
					const native = Array.from(__bytes.utf8Encode(s));
					return { native, js: Array.from(__bytes.utf8EncodeJs(s)), calls: nativeCalls - before };
				})()`);
				const label = JSON.stringify(s.slice(0, 30));
				t.deepEqual(got.native, got.js, label);
				t.deepEqual(got.native, [...Buffer.from(s, "utf8")], label);
				t.is(got.calls, 1, `${label}: the native conversion is tried once`);
			}
		}
		finally {
			await worker.close();
		}
	});
}

test("base64url written on bytes matches Node's, for every length up to 100", (t) => {
	for (let n = 0; n <= 100; n++) {
		const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 73 + n * 31) & 0xff);
		const expected = Buffer.from(bytes).toString("base64url");
		t.is(base64urlEncode(bytes), expected, `${n} bytes`);
		t.is(base64urlLength(n), expected.length);
		const target = new Uint8Array(expected.length + 3);
		t.is(base64urlWrite(bytes, target, 3), expected.length + 3);
		t.is(Buffer.from(target.subarray(3)).toString("latin1"), expected);
	}
});

test("asciiString converts views and long buffers", (t) => {
	const long = Uint8Array.from({ length: 10_000 }, (_, i) => 0x41 + (i % 26));
	t.is(asciiString(long), Buffer.from(long).toString("latin1"));
	t.is(asciiString(long.subarray(5, 12)), "FGHIJKL");
	t.is(asciiString(new Uint8Array(0)), "");
});

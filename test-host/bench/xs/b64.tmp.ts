import { XsWorker } from "../../xs/xsnap";
const w = await XsWorker.start();
await w.evaluate(`
var A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
var TABLE = Object.freeze(Array.from(A, (c) => c.charCodeAt(0)));
function oldEnc(bytes) { let out = ""; let i = 0; for (; i + 2 < bytes.length; i += 3) { const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2]; out += A[n >> 18] + A[(n >> 12) & 63] + A[(n >> 6) & 63] + A[n & 63]; } return out; }
function digit(v) { return v < 26 ? v + 65 : v < 52 ? v + 71 : v < 62 ? v - 4 : v === 62 ? 45 : 95; }
function enc2(bytes, t) { let o = 0; for (let i = 0; i + 2 < bytes.length; i += 3) { const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2]; t[o] = digit(n >> 18); t[o+1] = digit((n >> 12) & 63); t[o+2] = digit((n >> 6) & 63); t[o+3] = digit(n & 63); o += 4; } return o; }
function enc3(bytes, t) { let o = 0; for (let i = 0; i + 2 < bytes.length; i += 3) { const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2]; t[o] = TABLE[n >> 18]; t[o+1] = TABLE[(n >> 12) & 63]; t[o+2] = TABLE[(n >> 6) & 63]; t[o+3] = TABLE[n & 63]; o += 4; } return o; }
var B = new Uint8Array(120).map((_, i) => i * 7);
var dec = new TextDecoder();
0`);
const cases: Record<string, string> = {
	old: "oldEnc(B)",
	digit: "var t = new Uint8Array(160); enc2(B, t); dec.decode(t)",
	table: "var t = new Uint8Array(160); enc3(B, t); dec.decode(t)",
	tableFCC: "var t = new Uint8Array(160); enc3(B, t); String.fromCharCode.apply(null, t)",
};
for (let r = 0; r < 3; r++) for (const [k, src] of Object.entries(cases)) {
	const t = await w.evaluateJson<number>(`var t0 = performance.now(); for (var i = 0; i < 20000; i++) { ${src} } (performance.now() - t0) * 1000 / 20000`);
	console.log(k.padEnd(10), t.toFixed(2), "us", (w.lastMeter!.compute / 20000).toFixed(0));
}
await w.close();

/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) in plain ECMAScript, for the XS scenario: the
 * xsnap worker has no crypto, and the scenario must sign and verify JWTs the same way on Node and
 * in XS. Not constant-time and not fast; for tests only (the board uses Moddable's crypt).
 */

const K = new Uint32Array([
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

const BLOCK = 64;

function rotr(x: number, n: number): number {
	return (x >>> n) | (x << (32 - n));
}

/** Runs the compression function over every 64-byte block of `data` (a multiple of 64 long). */
function compress(h: Uint32Array, data: Uint8Array, w: Uint32Array): void {
	for (let offset = 0; offset < data.length; offset += BLOCK) {
		for (let i = 0; i < 16; i++) {
			const j = offset + i * 4;
			w[i] = ((data[j] << 24) | (data[j + 1] << 16) | (data[j + 2] << 8) | data[j + 3]) >>> 0;
		}
		for (let i = 16; i < 64; i++) {
			const a = w[i - 15];
			const b = w[i - 2];
			const s0 = rotr(a, 7) ^ rotr(a, 18) ^ (a >>> 3);
			const s1 = rotr(b, 17) ^ rotr(b, 19) ^ (b >>> 10);
			w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
		}
		let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
		for (let i = 0; i < 64; i++) {
			const S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
			const ch = (e & f) ^ (~e & g);
			const t1 = (k + S1 + ch + K[i] + w[i]) >>> 0;
			const S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
			const maj = (a & b) ^ (a & c) ^ (b & c);
			const t2 = (S0 + maj) >>> 0;
			k = g;
			g = f;
			f = e;
			e = (d + t1) >>> 0;
			d = c;
			c = b;
			b = a;
			a = (t1 + t2) >>> 0;
		}
		h[0] = (h[0] + a) >>> 0;
		h[1] = (h[1] + b) >>> 0;
		h[2] = (h[2] + c) >>> 0;
		h[3] = (h[3] + d) >>> 0;
		h[4] = (h[4] + e) >>> 0;
		h[5] = (h[5] + f) >>> 0;
		h[6] = (h[6] + g) >>> 0;
		h[7] = (h[7] + k) >>> 0;
	}
}

/** SHA-256 of `data`: 32 bytes. */
export function sha256(data: Uint8Array): Uint8Array {
	const length = data.length;
	// Message, 0x80, zeros, then the bit length as a 64-bit big-endian integer; a multiple of 64 bytes.
	const padded = new Uint8Array(Math.ceil((length + 9) / BLOCK) * BLOCK);
	padded.set(data);
	padded[length] = 0x80;
	const bits = length * 8;
	const end = padded.length;
	const high = Math.floor(bits / 0x100000000);
	const low = bits >>> 0;
	padded[end - 8] = (high >>> 24) & 0xff;
	padded[end - 7] = (high >>> 16) & 0xff;
	padded[end - 6] = (high >>> 8) & 0xff;
	padded[end - 5] = high & 0xff;
	padded[end - 4] = (low >>> 24) & 0xff;
	padded[end - 3] = (low >>> 16) & 0xff;
	padded[end - 2] = (low >>> 8) & 0xff;
	padded[end - 1] = low & 0xff;
	const h = new Uint32Array(INITIAL);
	compress(h, padded, new Uint32Array(64));
	const out = new Uint8Array(32);
	for (let i = 0; i < 8; i++) {
		out[i * 4] = h[i] >>> 24;
		out[i * 4 + 1] = (h[i] >>> 16) & 0xff;
		out[i * 4 + 2] = (h[i] >>> 8) & 0xff;
		out[i * 4 + 3] = h[i] & 0xff;
	}
	return out;
}

/** HMAC-SHA256 of `data` under `key`: 32 bytes. Has the shape of the `HmacSha256` port. */
export function hmacSha256(key: Uint8Array, data: Uint8Array): Uint8Array {
	const block = new Uint8Array(BLOCK);
	block.set(key.length > BLOCK ? sha256(key) : key);
	const inner = new Uint8Array(BLOCK + data.length);
	const outer = new Uint8Array(BLOCK + 32);
	for (let i = 0; i < BLOCK; i++) {
		inner[i] = block[i] ^ 0x36;
		outer[i] = block[i] ^ 0x5c;
	}
	inner.set(data, BLOCK);
	outer.set(sha256(inner), BLOCK);
	return sha256(outer);
}

/*
 * The host TCP transport (test-host/adapters/tcp.ts) against a real server on 127.0.0.1: the writes
 * of one turn are coalesced, in order, within the bounded window; room comes back with onWritable;
 * close() sends what is held first.
 */

import test from "ava";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { nodeTcp } from "../adapters/tcp";
import type { Transport, TransportError } from "mqttclient/transport";

interface Server {
	port: number;
	received(): Buffer;
	/** Resolves when `n` bytes have arrived (or the peer closed). */
	until(n: number): Promise<Buffer>;
	chunks: number;
	close(): Promise<void>;
}

async function server(): Promise<Server> {
	const parts: Buffer[] = [];
	let chunks = 0;
	let waiters: (() => void)[] = [];
	const wake = () => {
		const w = waiters;
		waiters = [];
		for (const f of w) f();
	};
	const sockets = new Set<net.Socket>();
	const srv = net.createServer((s) => {
		sockets.add(s);
		s.on("data", (d) => {
			parts.push(d);
			chunks++;
			wake();
		});
		s.on("close", wake);
		s.on("error", () => {});
	});
	await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
	const result: Server = {
		port: (srv.address() as AddressInfo).port,
		received: () => Buffer.concat(parts),
		get chunks() {
			return chunks;
		},
		async until(n) {
			const deadline = Date.now() + 20_000;
			while (Buffer.concat(parts).length < n && Date.now() < deadline) {
				await new Promise<void>((resolve) => {
					waiters.push(resolve);
					setTimeout(resolve, 200);
				});
			}
			return Buffer.concat(parts);
		},
		close: () => new Promise<void>((resolve) => {
			for (const s of sockets) s.destroy();
			srv.close(() => resolve());
		}),
	};
	return result;
}

interface Opened {
	transport: Transport;
	writables: number;
	closed: (TransportError | undefined)[];
}

async function open(port: number): Promise<Opened> {
	const o = { writables: 0, closed: [] } as unknown as Opened;
	await new Promise<void>((resolve, reject) => {
		o.transport = nodeTcp({ host: "127.0.0.1", port }, {
			onConnect: () => resolve(),
			onData: () => {},
			onWritable: () => { o.writables++; },
			onClose: (e) => {
				o.closed.push(e);
				reject(new Error(`closed: ${e?.message}`));
			},
		});
	});
	return o;
}

function packet(i: number, size: number): Uint8Array {
	return Uint8Array.from({ length: size }, (_, k) => (i * 7 + k) & 0xff);
}

test("writes of one turn keep their order, count against writable, and arrive whole", async (t) => {
	const s = await server();
	try {
		const o = await open(s.port);
		const before = o.transport.writable;
		t.true(before > 1000);
		const sent: Uint8Array[] = [];
		for (let i = 0; i < 40; i++) {
			const p = packet(i, 1 + (i % 5) * 30);
			sent.push(p);
			o.transport.write(p);
		}
		const total = sent.reduce((n, p) => n + p.length, 0);
		t.is(o.transport.writable, before - total, "held bytes count against the window");
		const got = await s.until(total);
		t.deepEqual(got, Buffer.concat(sent));
		t.is(o.transport.writable, before, "the room is back once written");
		o.transport.close();
	}
	finally {
		await s.close();
	}
});

test("when held bytes made writable short, onWritable follows their release", async (t) => {
	const s = await server();
	try {
		const o = await open(s.port);
		const room = o.transport.writable;
		const big = packet(1, room - 10);
		o.transport.write(big);
		t.is(o.transport.writable, 10, "the client sees the window nearly full");
		t.is(o.writables, 0);
		await s.until(big.length);
		await new Promise((resolve) => setImmediate(resolve));
		t.is(o.writables, 1, "one onWritable after the held bytes went to the socket");
		// Without a short reading there is nothing to announce.
		o.transport.write(packet(2, 10));
		await s.until(big.length + 10);
		await new Promise((resolve) => setImmediate(resolve));
		t.is(o.writables, 1);
		o.transport.close();
	}
	finally {
		await s.close();
	}
});

test("close() in the same turn sends what is held before closing", async (t) => {
	const s = await server();
	try {
		const o = await open(s.port);
		const last = packet(3, 2); // as a DISCONNECT
		o.transport.write(packet(4, 50));
		o.transport.write(last);
		o.transport.close();
		const got = await s.until(52);
		t.deepEqual(got, Buffer.concat([packet(4, 50), last]));
		t.deepEqual(o.closed, [], "no onClose for a close the owner asked for");
	}
	finally {
		await s.close();
	}
});

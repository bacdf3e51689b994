/*
 * What the MQTT client needs from its platform, and nothing more (as coreMQTT's transport
 * interface and time function): a byte stream it can open, write with backpressure and close,
 * and a monotonic clock with one-shot timers. The application supplies both.
 */

import type { TransportErrorCode } from "mqttclient/diagnostics";

export interface TlsOptions {
	/** CA certificate: PEM text, or on Moddable the name of a DER resource. */
	ca?: string;
	/** Name checked against the server certificate; defaults to the host. */
	serverName?: string;
}

export interface TransportOptions {
	host: string;
	port: number;
	tls?: TlsOptions;
}

export interface TransportError {
	code: TransportErrorCode;
	message: string;
}

export interface TransportEvents {
	/** The stream is open (after the TLS handshake when there is one). */
	onConnect(): void;
	onData(bytes: Uint8Array): void;
	/** There is room to write again after `writable` was too small. */
	onWritable(): void;
	/** The stream closed, with the reason when it was not a clean close. Called at most once. */
	onClose(error?: TransportError): void;
}

export interface Transport {
	/** Bytes that can be written now without blocking (a Moddable socket's free send buffer). */
	readonly writable: number;
	/** Writes at most `writable` bytes. */
	write(bytes: Uint8Array): void;
	/**
	 * Bytes of `writable` a write may use beyond its own length (a TLS record's overhead); 0 when
	 * absent. The client counts the room down locally between answers of `writable`: a write of n
	 * bytes leaves at least `writable` - n - writeOverhead.
	 */
	readonly writeOverhead?: number;
	/**
	 * Memory for a PUBLISH the client is about to write: `size` bytes, every one of which the client
	 * writes, kept until the message is acknowledged. Optional (a plain function: it is called
	 * without `this`); without it the client uses `new Uint8Array(size)`. For a platform where a
	 * fresh typed array is costly and a pool is cheap: Node's `Buffer.allocUnsafe` slices an 8 KB
	 * pool, where `new Uint8Array(300)` allocates outside the heap each time.
	 */
	readonly allocate?: (size: number) => Uint8Array;
	/** Closes the stream; onClose is not called for a close the owner asked for. */
	close(): void;
}

/** Opens a stream; events arrive later, never from inside this call. */
export type TransportFactory = (options: TransportOptions, events: TransportEvents) => Transport;

export type TimerHandle = unknown;

export interface MqttClock {
	/** Monotonic milliseconds. */
	now(): number;
	/** Calls `callback` once after `ms` milliseconds. */
	set(callback: () => void, ms: number): TimerHandle;
	clear(handle: TimerHandle): void;
}

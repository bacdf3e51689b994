/*
 * Helpers for the OTA tests: a world with an image server on the simulated network
 * (http://images.local), simulated devices with a two-slot flash, signed releases.
 */

import type { FirmwareManifest } from "../../../src/ota/manifest";
import type { OtaLimits, Progress } from "../../../src/ota/updater";
import { FIRMWARE_NAME } from "../../../src/version";
import { generateSigningKey, signManifest, type KeyPair } from "../../ota/crypto";
import { SimFlash } from "../../ota/flash";
import { makeSimImage, type SimImageHeader } from "../../ota/image";
import { ImageServer } from "../../ota/server";
import { World, type DeviceHandle } from "../../world";

export const IMAGE_HOST = "images.local";
export const BOARD = "esp32s3";
/** One key pair for a test file (P-256 generation is quick, but there is no need for more). */
export const KEYS: KeyPair = generateSigningKey();

/** Confirmation and rollback times short enough for tests on the virtual clock. */
export const TEST_LIMITS: Partial<OtaLimits> = { confirmMs: 20_000, verifyTimeoutMs: 120_000, stallMs: 10_000, backoffFloorMs: 1_000, backoffCapMs: 8_000 };

export interface OtaDevice extends DeviceHandle {
	flash: SimFlash;
}

/** A progress message as the backend receives it: the device's Progress with its id. */
export interface ProgressReport extends Omit<Progress, "state"> {
	deviceId: string;
	state: string;
}

export class OtaWorld {
	readonly world: World;
	readonly server = new ImageServer();

	private constructor(world: World) {
		this.world = world;
		world.network.listen(IMAGE_HOST, 80, (stream) => this.server.handle(stream));
	}

	static async create(options: { serviceUsers?: Record<string, string> } = {}): Promise<OtaWorld> {
		return new OtaWorld(await World.create(options));
	}

	addDevice(options: { version?: string; limits?: Partial<OtaLimits>; capacity?: number; publicKey?: string; index?: number } = {}): OtaDevice {
		const flash = new SimFlash(makeSimImage({ name: FIRMWARE_NAME, version: options.version ?? "0.1.0", board: BOARD }), { capacity: options.capacity });
		const index = options.index ?? this.world.devices.length;
		const mac = `24:6F:28:AA:${hex(index >> 8)}:${hex(index)}`;
		const handle = this.world.addDevice({
			mac,
			config: World.config({ topics: { scheme: "tenant" }, device: { tenantId: "acme" } }),
			ota: { flash, publicKey: options.publicKey ?? KEYS.publicHex, board: BOARD, limits: { ...TEST_LIMITS, ...options.limits } },
		});
		return { ...handle, flash };
	}

	/** Builds a simulated image, serves it, and signs its manifest. */
	release(version: string, options: { header?: Partial<SimImageHeader>; size?: number; allowDowngrade?: boolean; path?: string } = {}): { image: Buffer; manifest: FirmwareManifest } {
		const image = makeSimImage({ name: FIRMWARE_NAME, version, board: BOARD, ...options.header }, options.size ?? 96 * 1024);
		const path = options.path ?? `/fw/${version}.bin`;
		this.server.add(path, image);
		const manifest = signManifest({ image, name: options.header?.name ?? FIRMWARE_NAME, version, board: options.header?.board ?? BOARD, url: `http://${IMAGE_HOST}${path}`, allowDowngrade: options.allowDowngrade }, KEYS.privatePem);
		return { image, manifest };
	}

	firmwareTopic(d: DeviceHandle): string {
		return d.sim.device.topics.ota.firmware;
	}

	announce(d: DeviceHandle, manifest: object | string): Promise<void> {
		return this.world.inject(this.firmwareTopic(d), manifest);
	}

	progress(d?: DeviceHandle): ProgressReport[] {
		const topic = d?.sim.device.topics.ota.progress;
		return this.world.received.filter((m) => (topic ? m.topic === topic : m.topic.endsWith("/ota/progress"))).map((m) => JSON.parse(m.payload) as ProgressReport);
	}

	states(d?: DeviceHandle): string[] {
		return this.progress(d).map((p) => p.state);
	}

	async online(d: DeviceHandle, maxMs = 60_000): Promise<boolean> {
		return this.world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", maxMs);
	}

	async close(): Promise<void> {
		await this.world.close();
		await this.server.close();
	}
}

function hex(n: number): string {
	const v = n & 0xff;
	return (v < 16 ? "0" : "") + v.toString(16).toUpperCase();
}

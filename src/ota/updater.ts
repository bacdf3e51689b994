/*
 * The firmware updater: from a signed announcement to a confirmed new image, or a clear refusal.
 *
 *   announcement -> checks (shape, signature, name, board, version, size, busy, tried before)
 *   -> accepted -> downloading (HTTP(S), Range resume with backoff, bounded retries, stall timeout)
 *   -> verifying (SHA-256 computed while streaming) -> rebooting (planned restart, queue kept)
 *   -> first boot of the new image: confirm after `confirmMs` online -> succeeded
 *                                   or no connection in `verifyTimeoutMs` -> rollback
 *   -> the previous image boots again and reports rolled_back with the reason.
 *
 * The image never sits in RAM: each fragment the network delivers goes to the writer and the
 * digest, then is dropped. What the updater attempted is persisted (one record) so that the next
 * boot, in whichever image, can tell how it ended. Nothing here throws into a socket or timer.
 */

import { Backoff } from "backoff";
import { toHex } from "bytes";
import type { Logger } from "../events";
import type { Clock, Digest, KeyValueStore, OtaPorts, TimerHandle } from "../ports";
import { httpGet } from "./http";
import { canonicalBytes, compareVersions, hexBytes, parseManifest, type FirmwareManifest } from "./manifest";

export type OtaState = "accepted" | "downloading" | "verifying" | "rebooting" | "succeeded" | "failed" | "rolled_back";

export interface Progress {
	state: OtaState;
	version: string;
	/** The version running when the update started. */
	from: string;
	percent: number;
	bytes: number;
	total: number;
	reason?: string;
}

export interface OtaLimits {
	/** Download attempts in a row that bring no new byte before the update fails. */
	retries: number;
	/** No byte for this long: the connection is dropped and the download resumes. */
	stallMs: number;
	/** The new image confirms itself after being online this long without a break. */
	confirmMs: number;
	/** The new image rolls back when it has not confirmed itself this long after booting. */
	verifyTimeoutMs: number;
	/** Progress at most this often (and at every 10 %). */
	progressEveryMs: number;
	/** How long the `rebooting` report has to go out before the restart. */
	restartDelayMs: number;
	backoffFloorMs: number;
	backoffCapMs: number;
	/** Downloads of one image (across restarts) before it is refused. */
	maxTries: number;
}

export const DEFAULT_OTA_LIMITS: Readonly<OtaLimits> = Object.freeze({
	retries: 5,
	stallMs: 30_000,
	confirmMs: 60_000,
	verifyTimeoutMs: 300_000,
	progressEveryMs: 5_000,
	restartDelayMs: 1_000,
	backoffFloorMs: 2_000,
	backoffCapMs: 60_000,
	maxTries: 3,
});

export interface UpdaterOptions {
	ports: OtaPorts;
	clock: Clock;
	store: KeyValueStore;
	log: Logger;
	random: () => number;
	/** What this firmware is: a manifest for another name or board is refused. */
	firmware: { name: string; board: string };
	/** The signing key's public half: 130 hex digits, the uncompressed P-256 point 04 || X || Y. */
	publicKey: string;
	/** CA for https:// image URLs (the MQTT CA). */
	ca?: string;
	report(progress: Progress): void;
	/** The planned restart into the new image. */
	restart(reason: string): void;
	/** The LED shows "updating" while a download runs. */
	led(updating: boolean): void;
	limits?: Partial<OtaLimits>;
}

/** What a board gives the Device for updates: the ports, the built-in public key, its board name. */
export interface OtaSetup {
	ports: OtaPorts;
	/** 130 hex digits (mc/config `ota_public_key`). */
	publicKey: string;
	/** The board name manifests must carry (mc/config `ota_board`, e.g. "esp32s3"). */
	board: string;
	limits?: Partial<OtaLimits>;
}

/** Persisted under STORE_KEY: the last update attempted and how far it got. */
interface Attempt {
	v: string;
	sha: string;
	from: string;
	state: "downloading" | "rebooting" | "confirmed" | "failed" | "rolled_back";
	tries: number;
	reason?: string;
}

const STORE_KEY = "ota.attempt";

interface Job {
	m: FirmwareManifest;
	from: string;
	received: number;
	digest: Digest;
	backoff: Backoff;
	/** Attempts in a row without a new byte. */
	failures: number;
	attempts: number;
	/** Bytes when the current attempt started. */
	attemptStart: number;
	lastByteAt: number;
	request?: { cancel(): void };
	timer?: TimerHandle;
	stallTimer?: TimerHandle;
	reported: { percent: number; at: number };
	done: boolean;
}

export class Updater {
	readonly #o: UpdaterOptions;
	readonly #limits: OtaLimits;
	readonly #running: string;
	#job: Job | undefined;
	/** A report from this boot's start, published once online. */
	#due: Progress | undefined;
	#confirming = false;
	#confirmTimer: TimerHandle | undefined;
	#verifyTimer: TimerHandle | undefined;
	#stopped = false;

	constructor(options: UpdaterOptions) {
		this.#o = options;
		this.#limits = { ...DEFAULT_OTA_LIMITS, ...options.limits };
		this.#running = options.ports.boot.running().version;
	}

	/** The version running now (from the booted image). */
	get version(): string {
		return this.#running;
	}

	/** A download is running (telemetry goes on; status says so). */
	get busy(): boolean {
		return this.#job !== undefined;
	}

	/** At boot: how did the last attempt end, and is this the first boot of a new image? */
	start(): void {
		const boot = this.#o.ports.boot;
		const rec = this.#load();
		const slot = boot.running().slot;
		if (boot.pendingVerify()) {
			this.#confirming = true;
			this.#o.log.info("ota.confirming", { version: this.#running, slot, from: rec?.from, confirmAfterS: this.#limits.confirmMs / 1000, rollbackAfterS: this.#limits.verifyTimeoutMs / 1000 });
			this.#verifyTimer = this.#o.clock.set(() => this.#giveUp(`no lasting connection to the broker within ${this.#limits.verifyTimeoutMs / 1000} s of the first boot`), this.#limits.verifyTimeoutMs);
			return;
		}
		if (!rec) return;
		if (rec.state === "rebooting") {
			if (rec.v === this.#running) {
				// The image runs and was never pending: a bootloader without rollback, or confirmed before the record was updated.
				this.#save({ ...rec, state: "confirmed" });
				this.#due = this.#progress("succeeded", rec.v, rec.from, undefined);
				this.#o.log.info("ota.succeeded", { version: rec.v, from: rec.from, slot });
				return;
			}
			const reason = rec.reason ?? `version ${rec.v} did not confirm itself (it restarted before it was marked valid)`;
			this.#save({ ...rec, state: "rolled_back", reason });
			this.#due = this.#progress("rolled_back", rec.v, rec.from, `${reason}; the bootloader went back to ${this.#running}`);
			this.#o.log.error("ota.rolled_back", { version: rec.v, running: this.#running, slot, reason });
		}
		else if (rec.state === "downloading") {
			this.#o.ports.writer.abort();
			const reason = "a restart interrupted the download; the partly written slot is never booted and the running firmware is untouched";
			this.#save({ ...rec, state: "failed", reason });
			this.#due = this.#progress("failed", rec.v, rec.from, reason);
			this.#o.log.error("ota.failed", { version: rec.v, reason });
		}
	}

	/** After each accepted connection. */
	online(): void {
		if (this.#due) {
			this.#o.report(this.#due);
			this.#due = undefined;
		}
		if (this.#confirming && this.#confirmTimer === undefined) {
			this.#o.log.info("ota.confirm_pending", { version: this.#running, inS: this.#limits.confirmMs / 1000 });
			this.#confirmTimer = this.#o.clock.set(() => this.#confirm(), this.#limits.confirmMs);
		}
	}

	/** The connection broke: the confirmation needs an unbroken stretch online. */
	offline(): void {
		if (this.#confirmTimer !== undefined) this.#o.clock.clear(this.#confirmTimer);
		this.#confirmTimer = undefined;
	}

	/** Stops every timer and connection (shutdown or power loss); the slot is left as it is. */
	stop(): void {
		this.#stopped = true;
		this.offline();
		if (this.#verifyTimer !== undefined) this.#o.clock.clear(this.#verifyTimer);
		if (this.#job) this.#stopJob(this.#job);
	}

	/** An announcement from the device's own topic or the fleet topic. Never throws. */
	receive(text: string, source: "device" | "fleet"): void {
		try {
			this.#receive(text, source);
		}
		catch (e) {
			this.#o.log.error("ota.refused", { reason: `internal error: ${e instanceof Error ? e.message : String(e)}` });
		}
	}

	#receive(text: string, source: "device" | "fleet"): void {
		if (this.#stopped) return;
		const parsed = parseManifest(text);
		if (!parsed.ok) {
			this.#refuse(parsed.version ?? "unknown", parsed.error, source);
			return;
		}
		const m = parsed.manifest;
		const { name, board } = this.#o.firmware;
		if (!this.#signed(m)) return this.#refuse(m.version, "bad signature: the manifest is not signed by the key built into this firmware", source);
		if (m.name !== name) return this.#refuse(m.version, `firmware "${m.name}" is not this device's ("${name}")`, source);
		if (m.board !== board) return this.#refuse(m.version, `image for board "${m.board}", this is "${board}"`, source);
		if (this.#job) {
			if (this.#job.m.sha256 === m.sha256) {
				this.#o.log.info("ota.duplicate", { version: m.version, source });
				return;
			}
			return this.#refuse(m.version, `an update is already running (to ${this.#job.m.version})`, source);
		}
		const order = compareVersions(m.version, this.#running);
		if (order === 0) {
			this.#o.log.info("ota.up_to_date", { version: m.version, source });
			return;
		}
		if (order === -1 && !m.allowDowngrade) {
			const reason = `downgrade from ${this.#running} to ${m.version} refused (the signed manifest does not allow it)`;
			if (source === "fleet") this.#o.log.info("ota.ignored", { version: m.version, reason });
			else this.#refuse(m.version, reason, source);
			return;
		}
		// After the version check: the retained fleet manifest comes back to the new image while it confirms itself.
		if (this.#confirming) return this.#refuse(m.version, `the running firmware ${this.#running} has not confirmed itself yet`, source);
		const capacity = this.#o.ports.writer.capacity;
		if (m.size > capacity) return this.#refuse(m.version, `image of ${m.size} bytes does not fit the ${capacity}-byte update partition`, source);
		const rec = this.#load();
		const same = rec && rec.sha === m.sha256 ? rec : undefined;
		if (same?.state === "rolled_back") return this.#refuse(m.version, `this image was installed before and rolled back (${same.reason ?? "no reason recorded"})`, source);
		if (same && same.tries >= this.#limits.maxTries) return this.#refuse(m.version, `this image failed ${same.tries} times (last: ${same.reason ?? "unknown"})`, source);
		this.#accept(m, same ? same.tries + 1 : 1);
	}

	#signed(m: FirmwareManifest): boolean {
		const key = hexBytes(this.#o.publicKey);
		const signature = hexBytes(m.signature);
		if (!key || key.length !== 65 || !signature) return false;
		try {
			return this.#o.ports.crypto.verify(key, canonicalBytes(m), signature);
		}
		catch {
			return false;
		}
	}

	#refuse(version: string, reason: string, source: "device" | "fleet"): void {
		this.#o.log.error("ota.refused", { version, source, reason });
		this.#o.report(this.#progress("failed", version, this.#running, reason));
	}

	#accept(m: FirmwareManifest, tries: number): void {
		const clock = this.#o.clock;
		const job: Job = {
			m,
			from: this.#running,
			received: 0,
			digest: this.#o.ports.crypto.sha256(),
			backoff: new Backoff({ floor: this.#limits.backoffFloorMs, cap: this.#limits.backoffCapMs, random: this.#o.random }),
			failures: 0,
			attempts: 0,
			attemptStart: 0,
			lastByteAt: clock.now(),
			reported: { percent: 0, at: clock.now() },
			done: false,
		};
		this.#job = job;
		this.#save({ v: m.version, sha: m.sha256, from: job.from, state: "downloading", tries });
		this.#o.log.info("ota.accepted", { version: m.version, from: job.from, size: m.size, url: withoutQuery(m.url) });
		this.#report(job, "accepted");
		try {
			this.#o.ports.writer.begin(m.size);
		}
		catch (e) {
			this.#fail(job, `cannot start writing the update partition: ${message(e)}`);
			return;
		}
		this.#o.led(true);
		this.#fetch(job);
	}

	#fetch(job: Job): void {
		job.timer = undefined;
		if (job.done) return;
		job.attempts++;
		job.attemptStart = job.received;
		job.lastByteAt = this.#o.clock.now();
		if (job.received > 0) this.#o.log.info("ota.resuming", { version: job.m.version, from: job.received, attempt: job.attempts });
		else this.#o.log.info("ota.downloading", { version: job.m.version, url: withoutQuery(job.m.url), attempt: job.attempts });
		this.#report(job, "downloading");
		job.stallTimer = this.#o.clock.repeat(() => {
			if (this.#o.clock.now() - job.lastByteAt < this.#limits.stallMs) return;
			this.#attemptEnded(job, `no data for ${this.#limits.stallMs / 1000} s`);
		}, Math.max(1000, this.#limits.stallMs / 4));
		job.request = httpGet(this.#o.ports.http, { url: job.m.url, offset: job.received, ca: this.#o.ca }, {
			onResponse: (response) => {
				if (job.done) return;
				if (response.total !== job.m.size) {
					this.#fail(job, `the server has ${response.total} bytes, the manifest says ${job.m.size}`);
					return;
				}
				if (response.start !== job.received) this.#restartFromZero(job);
			},
			onBody: (bytes) => {
				if (job.done) return;
				try {
					this.#o.ports.writer.write(bytes);
				}
				catch (e) {
					this.#fail(job, `writing the update partition failed at byte ${job.received}: ${message(e)}`);
					return;
				}
				job.digest.update(bytes);
				job.received += bytes.length;
				job.lastByteAt = this.#o.clock.now();
				this.#maybeReport(job);
			},
			onEnd: (error) => {
				if (job.done) return;
				job.request = undefined;
				if (!error && job.received === job.m.size) this.#verify(job);
				else this.#attemptEnded(job, error ?? `the body ended at ${job.received} of ${job.m.size} bytes`);
			},
		});
	}

	/** The server ignored the Range and sent the image from its start: begin again. */
	#restartFromZero(job: Job): void {
		this.#o.log.warn("ota.range_ignored", { version: job.m.version, had: job.received });
		const writer = this.#o.ports.writer;
		writer.abort();
		try {
			writer.begin(job.m.size);
		}
		catch (e) {
			this.#fail(job, `cannot restart writing the update partition: ${message(e)}`);
			return;
		}
		job.digest = this.#o.ports.crypto.sha256();
		job.received = 0;
		job.attemptStart = 0;
	}

	#attemptEnded(job: Job, reason: string): void {
		this.#stopJob(job);
		if (job.done) return;
		job.failures = job.received > job.attemptStart ? 1 : job.failures + 1;
		if (job.received === job.attemptStart && job.failures > this.#limits.retries) {
			this.#fail(job, `the download did not complete after ${job.attempts} attempts (${job.received} of ${job.m.size} bytes): ${reason}`);
			return;
		}
		if (job.received > job.attemptStart) job.backoff.reset();
		const delay = job.backoff.next();
		this.#o.log.warn("ota.retry", { version: job.m.version, bytes: job.received, total: job.m.size, inMs: delay, failures: job.failures, reason });
		job.timer = this.#o.clock.set(() => this.#fetch(job), delay);
	}

	#verify(job: Job): void {
		this.#stopJob(job);
		this.#report(job, "verifying");
		const digest = toHex(job.digest.finish());
		if (digest !== job.m.sha256) {
			this.#fail(job, `SHA-256 mismatch: the image is ${digest.slice(0, 16)}…, the signed manifest says ${job.m.sha256.slice(0, 16)}…`);
			return;
		}
		try {
			this.#o.ports.writer.finish();
		}
		catch (e) {
			this.#fail(job, `the update partition refused the image: ${message(e)}`);
			return;
		}
		job.done = true;
		this.#save({ ...(this.#load() ?? { v: job.m.version, sha: job.m.sha256, from: job.from, tries: 1 }), state: "rebooting" });
		this.#o.log.info("ota.verified", { version: job.m.version, sha256: job.m.sha256.slice(0, 16) });
		this.#report(job, "rebooting");
		this.#o.log.info("ota.rebooting", { version: job.m.version, inMs: this.#limits.restartDelayMs });
		this.#o.clock.set(() => this.#o.restart(`firmware update to ${job.m.version}`), this.#limits.restartDelayMs);
	}

	#fail(job: Job, reason: string): void {
		this.#stopJob(job);
		job.done = true;
		this.#job = undefined;
		this.#o.ports.writer.abort();
		const rec = this.#load();
		if (rec && rec.sha === job.m.sha256) this.#save({ ...rec, state: "failed", reason });
		this.#o.led(false);
		this.#o.log.error("ota.failed", { version: job.m.version, bytes: job.received, reason });
		this.#o.report({ ...this.#progressOf(job, "failed"), reason });
	}

	#stopJob(job: Job): void {
		const clock = this.#o.clock;
		if (job.timer !== undefined) clock.clear(job.timer);
		if (job.stallTimer !== undefined) clock.clear(job.stallTimer);
		job.timer = job.stallTimer = undefined;
		job.request?.cancel();
		job.request = undefined;
	}

	/** The new image stayed online long enough: keep it. */
	#confirm(): void {
		this.#confirmTimer = undefined;
		if (!this.#confirming) return;
		try {
			this.#o.ports.boot.markValid();
		}
		catch (e) {
			this.#o.log.error("ota.mark_valid_failed", { reason: message(e) });
			return;
		}
		this.#confirming = false;
		if (this.#verifyTimer !== undefined) this.#o.clock.clear(this.#verifyTimer);
		this.#verifyTimer = undefined;
		const rec = this.#load();
		const from = rec?.state === "rebooting" ? rec.from : "unknown";
		if (rec?.state === "rebooting") {
			this.#save({ ...rec, state: "confirmed" });
			// The image was built with another version than its manifest announced (src/version.ts not bumped).
			if (rec.v !== this.#running) this.#o.log.warn("ota.version_mismatch", { announced: rec.v, running: this.#running });
		}
		this.#o.log.info("ota.succeeded", { version: this.#running, from });
		this.#o.report(this.#progress("succeeded", this.#running, from, undefined));
	}

	/** The new image could not prove itself: record why, then back to the previous one. */
	#giveUp(reason: string): void {
		this.#verifyTimer = undefined;
		if (!this.#confirming) return;
		const rec = this.#load();
		if (rec?.state === "rebooting") this.#save({ ...rec, reason });
		this.#o.log.error("ota.rollback", { version: this.#running, reason });
		this.#o.ports.boot.rollback(reason);
	}

	#maybeReport(job: Job): void {
		const percent = Math.floor((job.received * 100) / job.m.size);
		const now = this.#o.clock.now();
		if (percent >= job.reported.percent + 10 || (percent > job.reported.percent && now - job.reported.at >= this.#limits.progressEveryMs)) this.#report(job, "downloading");
	}

	#report(job: Job, state: OtaState): void {
		const p = this.#progressOf(job, state);
		job.reported = { percent: p.percent, at: this.#o.clock.now() };
		if (state === "downloading" && job.received > 0) this.#o.log.info("ota.progress", { version: job.m.version, percent: p.percent, bytes: job.received, total: job.m.size });
		this.#o.report(p);
	}

	#progressOf(job: Job, state: OtaState): Progress {
		return { state, version: job.m.version, from: job.from, percent: Math.floor((job.received * 100) / job.m.size), bytes: job.received, total: job.m.size };
	}

	#progress(state: OtaState, version: string, from: string, reason: string | undefined): Progress {
		const p: Progress = { state, version, from, percent: state === "failed" ? 0 : 100, bytes: 0, total: 0 };
		if (reason) p.reason = reason;
		return p;
	}

	#load(): Attempt | undefined {
		const raw = this.#o.store.get(STORE_KEY);
		if (typeof raw !== "string") return undefined;
		try {
			const value = JSON.parse(raw) as Attempt;
			return typeof value === "object" && value && typeof value.v === "string" && typeof value.sha === "string" ? value : undefined;
		}
		catch {
			return undefined;
		}
	}

	#save(attempt: Attempt): void {
		this.#o.store.set(STORE_KEY, JSON.stringify(attempt));
	}
}

/** A URL for the log: a query string may hold a token (a pre-signed download link). */
function withoutQuery(url: string): string {
	const q = url.indexOf("?");
	return q < 0 ? url : `${url.slice(0, q)}?…`;
}

function message(e: unknown): string {
	return e instanceof Error ? e.message : String(e);
}

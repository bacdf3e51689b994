/*
 * Setup mode: the board opens an access point named after its client id (password derived from
 * its MAC: ./access-key.ts), answers every DNS query with its own address (captive portal) and
 * serves the setup page. A submitted form is validated with the configuration schema's rules;
 * then the station tries the network while the access point stays up, the claim code (if any)
 * is exchanged for MQTT credentials, and only then are the settings stored and the device
 * restarted into normal mode. Each outcome is on the page (/api/status) and in the log.
 *
 * Entered through the fallback (the stored network failed for provisioning.setupAfter minutes),
 * setup mode gives the network another chance after the same time if nobody submitted the form,
 * so a router that was down does not leave the device in setup mode for good.
 */

import type { StatusLed } from "statusled";
import type { Logger } from "../events";
import { clientIdFromMac } from "../identity";
import type { Persisted } from "../persistence";
import type { HttpReply, HttpRequest, HttpServerHandle, Ports, ScannedNetwork, SetupPorts, TimerHandle } from "../ports";
import type { DeviceConfig } from "../settings";
import { FIRMWARE_VERSION } from "../version";
import { accessPointName, accessPointPassword } from "./access-key";
import { claim } from "./claim";
import { formView, validateSetupForm, type FieldName, type SetupSubmission } from "./form";
import { SETUP_PAGE } from "./page";

export type SetupState = "idle" | "joining" | "claiming" | "failed" | "done";

export interface SetupStatus {
	state: SetupState;
	message: string;
	/** The form field the failure belongs to. */
	field?: FieldName;
}

export interface SetupModeOptions {
	ports: Ports;
	setup: SetupPorts;
	config: DeviceConfig;
	persisted: Persisted;
	log: Logger;
	led: StatusLed;
	/** Why setup mode is open: "forced" (factory reset, BOOT button), "fallback", "unconfigured". */
	reason: "forced" | "fallback" | "unconfigured";
	/** Default 80 and 53 (the host uses 0: any free port). */
	httpPort?: number;
	dnsPort?: number;
	/** How long the station may take to join. Default 20 s. */
	joinTimeoutMs?: number;
	/** Pause between "done" and the restart, for the page to show it. Default 3 s. */
	restartDelayMs?: number;
}

const MAX_BODY = 4096;

function json(status: number, value: unknown): HttpReply {
	return { status, contentType: "application/json", body: JSON.stringify(value) };
}

/** The station's failure in words -> the field it concerns. */
export function classifyJoinFailure(reason: string): { field: FieldName; message: string } {
	const r = reason.toLowerCase();
	if (r.indexOf("password") >= 0 || r.indexOf("auth") >= 0 || r.indexOf("handshake") >= 0) return { field: "password", message: "wrong WiFi password: the network refused it" };
	if (r.indexOf("not found") >= 0 || r.indexOf("no access point") >= 0 || r.indexOf("no ap") >= 0) return { field: "ssid", message: "network not found: check the name, or move the sensor closer" };
	return { field: "ssid", message: `could not join the network: ${reason}` };
}

export class SetupMode {
	readonly #o: SetupModeOptions;
	readonly #log: Logger;
	#status: SetupStatus = { state: "idle", message: "" };
	#http: HttpServerHandle | undefined;
	#httpPort: number | undefined;
	#dns: { close(): void } | undefined;
	#dnsPort: number | undefined;
	#timer: TimerHandle | undefined;
	#retryTimer: TimerHandle | undefined;
	#ip = "";
	#mac = "";
	#clientId = "";
	#stopped = false;
	#scanning = false;
	#networks: ScannedNetwork[] = [];

	constructor(options: SetupModeOptions) {
		this.#o = options;
		this.#log = options.log;
	}

	get status(): SetupStatus {
		return { ...this.#status };
	}
	/** The setup page's port and the captive DNS port (the host picks free ones). */
	get httpPort(): number | undefined {
		return this.#httpPort;
	}
	get dnsPort(): number | undefined {
		return this.#dnsPort;
	}
	/** The setup page's address, once the server listens. */
	get url(): string | undefined {
		return this.#httpPort === undefined ? undefined : `http://${this.#ip}${this.#httpPort === 80 ? "" : `:${this.#httpPort}`}/`;
	}
	get address(): string {
		return this.#ip;
	}

	start(): void {
		const { ports, setup, config } = this.#o;
		this.#o.led.set("setup");
		try {
			setup.ap.prepare();
		}
		catch (e) {
			this.#log.error("setup.failed", { error: `cannot start the WiFi driver: ${String(e)}` });
			return;
		}
		const mac = ports.wifi.mac();
		if (!mac) {
			this.#log.error("setup.failed", { error: "no MAC from the WiFi driver: cannot name the access point" });
			return;
		}
		this.#mac = mac;
		this.#clientId = clientIdFromMac(mac, config.mqtt.clientIdPrefix);
		const ssid = accessPointName(mac, config.mqtt.clientIdPrefix);
		const password = accessPointPassword(mac, config.provisioning.apSecret, ports.hmac);
		try {
			this.#ip = setup.ap.start({ ssid, password });
			this.#dns = setup.dns.start(this.#ip, this.#o.dnsPort ?? 53, (port) => {
				this.#dnsPort = port;
				this.#log.info("setup.dns", { port, answer: this.#ip });
			});
			this.#http = setup.http.listen(this.#o.httpPort ?? 80, (request, reply) => this.#handle(request, reply), (port) => {
				this.#httpPort = port;
				// The access point password is meant for the serial monitor: it is printed on the label too.
				this.#log.info("setup.started", { reason: this.#o.reason, accessPoint: ssid, accessPointPassword: password, url: this.url });
			});
		}
		catch (e) {
			this.#log.error("setup.failed", { error: `cannot open setup mode: ${String(e)}` });
			return;
		}
		this.#rescan();
		if (this.#o.reason === "fallback" && config.provisioning.setupAfter > 0)
			this.#retryTimer = ports.clock.set(() => this.#retryNetwork(), config.provisioning.setupAfter * 60_000);
	}

	stop(): void {
		this.#stopped = true;
		if (this.#timer !== undefined) this.#o.ports.clock.clear(this.#timer);
		if (this.#retryTimer !== undefined) this.#o.ports.clock.clear(this.#retryTimer);
		this.#http?.close();
		this.#dns?.close();
		this.#o.setup.ap.stop();
		this.#o.led.close();
	}

	/* HTTP ------------------------------------------------------------------------------ */

	#handle(request: HttpRequest, reply: (response: HttpReply) => void): void {
		try {
			this.#route(request, reply);
		}
		catch (e) {
			this.#log.error("setup.http_error", { path: request.path.slice(0, 64), error: String(e) });
			reply(json(500, { errors: { form: "internal error" } }));
		}
	}

	#route(request: HttpRequest, reply: (response: HttpReply) => void): void {
		const path = request.path.split("?")[0];
		if (request.method === "GET" && (path === "/" || path === "/index.html")) return reply({ status: 200, contentType: "text/html; charset=utf-8", body: SETUP_PAGE });
		if (request.method === "GET" && path === "/api/info") {
			const view = formView(this.#o.config);
			return reply(json(200, { clientId: this.#clientId, mac: this.#mac, firmwareVersion: FIRMWARE_VERSION, ...view }));
		}
		if (request.method === "GET" && path === "/api/networks") return this.#scan(reply);
		if (request.method === "GET" && path === "/api/status") return reply(json(200, this.#status));
		if (request.method === "POST" && path === "/api/setup") return reply(this.#submit(request.body));
		if (request.method === "GET") {
			// Captive portal: every other page a phone probes leads to the setup page.
			return reply({ status: 302, contentType: "text/plain", body: "setup page", location: this.url });
		}
		reply(json(404, { errors: { form: `no ${request.method} ${path.slice(0, 64)}` } }));
	}

	/** Answers with the networks seen last and starts a new scan (the board's HTTP server answers synchronously). */
	#scan(reply: (response: HttpReply) => void): void {
		reply(json(200, { scanning: this.#scanning, networks: this.#networks }));
		this.#rescan();
	}

	#rescan(): void {
		if (this.#scanning || this.#stopped) return;
		this.#scanning = true;
		try {
			this.#o.setup.ap.scan((networks: ScannedNetwork[]) => {
				this.#scanning = false;
				const seen: Record<string, true> = {};
				this.#networks = networks
					.filter((n) => typeof n.ssid === "string" && n.ssid && !Object.prototype.hasOwnProperty.call(seen, n.ssid) && (seen[n.ssid] = true))
					.sort((a, b) => b.rssi - a.rssi)
					.slice(0, 20)
					.map((n) => ({ ssid: n.ssid, rssi: n.rssi, secure: n.secure }));
			});
		}
		catch (e) {
			this.#scanning = false;
			this.#log.warn("setup.scan_failed", { error: String(e) });
		}
	}

	#submit(body: string): HttpReply {
		if (this.#status.state === "joining" || this.#status.state === "claiming") return json(409, { errors: { form: "an attempt is under way: wait for its outcome" } });
		if (this.#status.state === "done") return json(409, { errors: { form: "already set up: the sensor is restarting" } });
		if (body.length > MAX_BODY) return json(413, { errors: { form: `the form is over ${MAX_BODY} bytes` } });
		let input: unknown;
		try {
			input = JSON.parse(body);
		}
		catch {
			return json(400, { errors: { form: "the form is not JSON" } });
		}
		const checked = validateSetupForm(input, this.#o.config);
		if (!checked.ok) {
			this.#log.warn("setup.invalid", { fields: Object.keys(checked.errors) });
			return json(400, { errors: checked.errors });
		}
		this.#join(checked.value);
		return json(202, { state: this.#status.state, message: this.#status.message });
	}

	/* The attempt ------------------------------------------------------------------------ */

	#setStatus(state: SetupState, message: string, field?: FieldName): void {
		this.#status = field ? { state, message, field } : { state, message };
	}

	#join(submission: SetupSubmission): void {
		const { wifi } = submission.config;
		const { ports } = this.#o;
		if (this.#retryTimer !== undefined) ports.clock.clear(this.#retryTimer);
		this.#retryTimer = undefined;
		this.#setStatus("joining", `Joining ${wifi.ssid}...`);
		this.#log.info("setup.joining", { ssid: wifi.ssid });
		let settled = false;
		const fail = (reason: string) => {
			if (settled || this.#stopped) return;
			settled = true;
			if (this.#timer !== undefined) ports.clock.clear(this.#timer);
			ports.wifi.disconnect();
			const { field, message } = classifyJoinFailure(reason);
			this.#setStatus("failed", message, field);
			this.#log.warn("setup.join_failed", { ssid: wifi.ssid, reason, field });
		};
		this.#timer = ports.clock.set(() => fail("no answer from the network (timed out)"), this.#o.joinTimeoutMs ?? 20_000);
		ports.wifi.connect({ ssid: wifi.ssid, password: wifi.password }, {
			onConnected: (ip) => {
				if (settled || this.#stopped) return;
				settled = true;
				if (this.#timer !== undefined) ports.clock.clear(this.#timer);
				this.#log.info("setup.joined", { ssid: wifi.ssid, ip });
				if (submission.claimCode) this.#claim(submission, submission.claimCode);
				else this.#finish(submission);
			},
			onDisconnected: (reason) => fail(reason),
		});
	}

	#claim(submission: SetupSubmission, claimCode: string): void {
		const url = submission.config.provisioning.claimUrl;
		this.#setStatus("claiming", "Joined the network; claiming the sensor...");
		this.#log.info("claim.requesting", { url, clientId: this.#clientId });
		claim(this.#o.setup.httpClient, url, { claimCode, mac: this.#mac, clientId: this.#clientId, firmwareVersion: FIRMWARE_VERSION }, (result) => {
			if (this.#stopped) return;
			if (!result.ok) {
				this.#o.ports.wifi.disconnect();
				this.#setStatus("failed", result.error, result.code === "network" ? "claimUrl" : "claimCode");
				this.#log.error("claim.failed", { code: result.code, error: result.error });
				return;
			}
			this.#log.info("claim.accepted", { username: result.username, brokerUrl: result.brokerUrl });
			const patch = submission.patch;
			(patch.auth ??= {}).mode = "password";
			patch.auth.username = result.username;
			delete patch.auth.password;
			if (result.brokerUrl) (patch.mqtt ??= {}).url = result.brokerUrl;
			this.#o.persisted.saveCredentials({ username: result.username, password: result.password });
			this.#finish(submission, result.username);
		});
	}

	#finish(submission: SetupSubmission, claimedAs?: string): void {
		const { persisted, ports } = this.#o;
		persisted.saveSetupSettings(submission.patch);
		persisted.requestSetup(false);
		const ssid = submission.config.wifi.ssid;
		this.#setStatus("done", claimedAs ? `Joined ${ssid} and claimed as ${claimedAs}. The sensor restarts and goes online.` : `Joined ${ssid}. The sensor restarts and goes online.`);
		this.#log.info("setup.done", { ssid, claimed: !!claimedAs });
		this.#timer = ports.clock.set(() => ports.system.restart("setup complete"), this.#o.restartDelayMs ?? 3000);
	}

	#retryNetwork(): void {
		this.#retryTimer = undefined;
		if (this.#status.state !== "idle" || this.#stopped) return;
		this.#log.info("setup.retry_network", { reason: "nobody used setup mode: trying the stored network again" });
		this.#o.persisted.requestSetup(false);
		this.#o.ports.system.restart("setup mode unused: trying the stored network again");
	}
}

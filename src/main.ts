/*
 * Device entry point: the build configuration (mc/config) becomes a DeviceConfig, the board's
 * wiring (the module "board": platforms/<board>/board.ts) supplies the ports that differ between
 * boards, the Moddable adapters every board shares supply the rest, and the Device starts.
 *
 * A bad build configuration does not stop the device: each problem is traced as an error at boot
 * and again every five minutes (for a serial monitor attached later), the invalid settings keep
 * their defaults and everything else runs. A board part whose pins are wrong is left out (the
 * sensor then reports that it is not configured).
 *
 * Which firmware runs, setup mode or the sensor, is src/provisioning/boot.ts's choice: setup mode
 * when no network is configured (built in or stored by setup) or setup was asked for.
 */

import { createBoard } from "board";
import config from "mc/config";
import { ModdableClock } from "./adapters/clock";
import { consoleLog } from "./adapters/console";
import { moddableHmac, moddableRandom } from "./adapters/crypto";
import { deviceSettings } from "./adapters/mc-config";
import { PreferenceStore } from "./adapters/preference";
import { ModdableSntp } from "./adapters/sntp";
import type { OtaSetup } from "./ota/updater";
import type { OtaPorts } from "./ports";
import { boot } from "./provisioning/boot";
import { defaultConfig, validateConfig } from "./settings";

const PROBLEM_REPEAT_MS = 5 * 60 * 1000;

function run(): void {
	const clock = new ModdableClock();
	const mc = config as unknown as Readonly<Record<string, unknown>>;
	const settings = deviceSettings(mc);
	const validated = validateConfig(settings.input, defaultConfig(), { coerceStrings: true });
	const problems = [...settings.errors, ...validated.errors];
	const wiring = createBoard({ config: mc, clock, sensor: validated.value.sensor.model !== "none", problem: (text) => problems.push(text) });

	const ports = {
		...wiring.ports,
		clock,
		sntp: new ModdableSntp(),
		store: new PreferenceStore("sensor"),
		hmac: moddableHmac,
		random: moddableRandom,
		log: consoleLog,
	};

	if (problems.length) {
		const report = () => {
			for (const problem of problems) trace(`<error>Build configuration: ${problem}\n`);
			trace(`<error>Build configuration: ${problems.length} problem(s); those settings keep their defaults. See docs/configuration.md.\n`);
		};
		report();
		clock.repeat(report, PROBLEM_REPEAT_MS);
	}
	const booted = boot({ ports, config: validated.value, ota: otaSetup(mc, () => wiring.ota), setup: wiring.provisioning?.setup, button: wiring.provisioning?.button });
	const setup = booted.mode === "setup" ? booted.setup : undefined;
	wiring.started?.(booted.mode === "normal" ? booted.device : {
		shutdown(done?: () => void) {
			setup?.stop();
			done?.();
		},
	});
}

/** Updates need the board's ports and the signing key's public half (mc/config ota_public_key). */
function otaSetup(mc: Readonly<Record<string, unknown>>, board: () => OtaPorts | undefined): OtaSetup | undefined {
	const key = typeof mc.ota_public_key === "string" ? mc.ota_public_key.trim().toLowerCase() : "";
	if (!/^04[0-9a-f]{128}$/.test(key)) {
		trace(`<warn>Firmware updates are off: ${key ? "ota_public_key must be 130 hex digits starting 04" : "no ota_public_key in the build"} (npm run ota -- keygen; docs/ota.md).\n`);
		return undefined;
	}
	// Only now: the board's update ports may touch the flash (the Linux target's bootloader step).
	const ports = board();
	if (!ports) return undefined;
	const confirm = Number(mc.ota_confirm_seconds);
	const limits = confirm >= 5 && confirm <= 3600 ? { confirmMs: confirm * 1000 } : undefined;
	return { ports, publicKey: key, board: typeof mc.ota_board === "string" && mc.ota_board ? mc.ota_board : "esp32s3", limits };
}

run();

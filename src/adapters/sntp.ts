/*
 * SNTP port over Moddable's `sntp` module.
 *
 * One SNTP client per sync. It asks the first server; when that one fails (no answer after its own
 * retries, or the name does not resolve) the callback returns the next host name and the client
 * carries on with it, which is how the module takes several servers. The result is reported once,
 * always from a later turn of the event loop.
 */

import SNTP from "sntp";
import Timer from "timer";
import type { SNTP as SntpPort, SntpResult } from "../ports";

/** Messages: 1 time (value: seconds since 1970), 2 retrying, -1 error (value: the reason text). */
type SntpCallback = (message: number, value?: unknown) => string | void;
interface SntpClient {
	close?(): void;
}
const Client = SNTP as unknown as new (options: { host: string }, callback: SntpCallback) => SntpClient;
const timers = Timer as unknown as { set(callback: () => void, interval: number): unknown };

export class ModdableSntp implements SntpPort {
	sync(servers: readonly string[], callback: (result: SntpResult) => void): void {
		let index = 0;
		let done = false;
		let starting = true;
		const failures: string[] = [];
		const finish = (result: SntpResult) => {
			if (done) return;
			done = true;
			if (starting) timers.set(() => callback(result), 0);
			else callback(result);
		};
		if (!servers.length) {
			finish({ ok: false, error: "no time servers configured" });
			return;
		}
		try {
			new Client({ host: servers[0] }, (message, value) => {
				if (done) return;
				if (message === 1 && typeof value === "number") {
					finish({ ok: true, epochMs: value * 1000, server: servers[index] });
					return;
				}
				if (message >= 0) return; // 2: no answer yet, the client sends again
				failures.push(`${servers[index]}: ${String(value ?? "no answer")}`);
				index++;
				if (index < servers.length) return servers[index];
				finish({ ok: false, error: failures.join("; ") });
			});
		}
		catch (e) {
			// The constructor throws when it cannot start (e.g. the DNS request queue is full).
			finish({ ok: false, error: `cannot start SNTP: ${String(e)}` });
		}
		starting = false;
	}
}

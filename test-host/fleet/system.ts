/*
 * What the operating system allows a fleet: open files (each device holds a socket; with the
 * embedded broker both ends are in this process), and how much memory a process holds.
 */

import fs from "node:fs";

export interface FileLimit {
	soft: number;
	hard: number;
}

/** RLIMIT_NOFILE of a process, from /proc/<pid>/limits; undefined where there is no /proc. */
export function openFileLimit(pid: number | "self" = "self"): FileLimit | undefined {
	try {
		const text = fs.readFileSync(`/proc/${pid}/limits`, "utf8");
		const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
		if (!m) return undefined;
		const value = (s: string) => (s === "unlimited" ? Infinity : Number(s));
		return { soft: value(m[1]), hard: value(m[2]) };
	}
	catch {
		return undefined;
	}
}

/** Resident memory of a process in bytes (VmRSS), undefined when unknown. */
export function residentBytes(pid: number): number | undefined {
	try {
		const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
		return m ? Number(m[1]) * 1024 : undefined;
	}
	catch {
		return undefined;
	}
}

/** Files the fleet process needs: a socket per device, twice with the broker in-process, plus some. */
export function filesNeeded(devices: number, brokerInProcess: boolean): number {
	return devices * (brokerInProcess ? 2 : 1) + 200;
}

/**
 * The sentence to print when the limit is too low for the fleet (undefined when it is enough).
 * Node already raised its soft limit to the hard one at start; past the hard limit only root can
 * go (ulimit -Hn, LimitNOFILE= in a systemd unit, /etc/security/limits.conf).
 */
export function fileLimitProblem(devices: number, brokerInProcess: boolean, limit = openFileLimit()): string | undefined {
	if (!limit) return undefined;
	const need = filesNeeded(devices, brokerInProcess);
	if (need <= limit.soft) return undefined;
	const fit = Math.max(0, Math.floor((limit.soft - 200) / (brokerInProcess ? 2 : 1)));
	return `this process may open ${limit.soft} files (ulimit -n; hard limit ${limit.hard}) and ${devices} devices need about ${need}`
		+ `${brokerInProcess ? " (the embedded broker holds the other end of every connection in this process)" : ""}:`
		+ ` expect failed connections beyond about ${fit} devices. Only root can raise the hard limit (ulimit -Hn, LimitNOFILE= in a systemd unit);`
		+ `${brokerInProcess ? " or use --mosquitto, which holds its end in its own process" : ""}`;
}

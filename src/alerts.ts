/*
 * Threshold alerts with hysteresis: crossing above a threshold raises an alert once; the value
 * must fall below threshold - hysteresis to clear it. alert_reset acknowledges active alerts:
 * they are reported cleared at once and do not rise again until the value has first returned
 * to normal.
 */

export type Metric = "temperature" | "humidity";
type AlertState = "normal" | "raised" | "acknowledged";

export interface AlertLimits {
	threshold: number | null;
	hysteresis: number;
}

export type AlertChange = { metric: Metric; change: "raised" | "cleared"; value: number; threshold: number; reason?: string };

export class Alerts {
	#states: Record<Metric, AlertState> = { temperature: "normal", humidity: "normal" };
	readonly #limits: (metric: Metric) => AlertLimits;

	constructor(limits: (metric: Metric) => AlertLimits) {
		this.#limits = limits;
	}

	state(metric: Metric): AlertState {
		return this.#states[metric];
	}

	/** Feeds one reading; returns the change to announce, if any. */
	check(metric: Metric, value: number | null): AlertChange | undefined {
		if (value === null) return undefined;
		const { threshold, hysteresis } = this.#limits(metric);
		const state = this.#states[metric];
		if (threshold === null) {
			this.#states[metric] = "normal";
			return state === "raised" ? { metric, change: "cleared", value, threshold: value, reason: "threshold removed" } : undefined;
		}
		if (state === "normal" && value > threshold) {
			this.#states[metric] = "raised";
			return { metric, change: "raised", value, threshold };
		}
		if (state !== "normal" && value < threshold - hysteresis) {
			this.#states[metric] = "normal";
			return state === "raised" ? { metric, change: "cleared", value, threshold } : undefined;
		}
		return undefined;
	}

	/** alert_reset: acknowledges raised alerts; returns the metrics that were active. */
	reset(): Metric[] {
		const cleared: Metric[] = [];
		for (const metric of Object.keys(this.#states) as Metric[]) {
			if (this.#states[metric] !== "raised") continue;
			this.#states[metric] = "acknowledged";
			cleared.push(metric);
		}
		return cleared;
	}
}

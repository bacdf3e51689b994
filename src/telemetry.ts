/*
 * Telemetry and alerts: reads the DHT, publishes each reading (numbered by boot and seq; the
 * sensor scheme also gets one topic per value), raises and clears alerts on the thresholds, and
 * clears them on alert_reset. The Device owns the timers and the connection; this is one job.
 */

import type { DHT } from "dht";
import { Alerts, type AlertChange, type Metric } from "./alerts";
import type { Logger } from "./events";
import { alert as alertMessage, telemetry as telemetryMessage, type DeviceFacts, type Reading } from "./messages";
import type { Outgoing } from "./outbox";
import type { DeviceConfig } from "./settings";
import type { Link } from "./supervisor";
import type { TopicPlan } from "./topics";

export interface TelemetryOptions {
	dht: DHT | undefined;
	log: Logger;
	link: Link;
	boot: number;
	config(): DeviceConfig;
	topics(): TopicPlan;
	facts(): DeviceFacts;
	online(): boolean;
	outboxSize(): number;
	outgoing(kind: string, topic: string, body: object | string, qos: 0 | 1, retain?: boolean, seq?: number): Outgoing;
}

export class Telemetry {
	readonly #o: TelemetryOptions;
	readonly #alerts: Alerts;
	#seq = 0;
	#lastReading: Reading | undefined;
	#sampling = false;
	#stopped = false;

	constructor(options: TelemetryOptions) {
		this.#o = options;
		this.#alerts = new Alerts((metric) => this.#alertLimits(metric));
	}

	/** The seq of the last reading taken this boot. */
	get seq(): number {
		return this.#seq;
	}

	get lastReading(): Reading | undefined {
		return this.#lastReading;
	}

	stop(): void {
		this.#stopped = true;
	}

	/** Reads the sensor (unless a read is running) and publishes what it gives. */
	sampleAndPublish(): void {
		const dht = this.#o.dht;
		if (this.#stopped || this.#sampling) return;
		if (!dht) {
			this.#publishReading({ temperature: null, humidity: null, status: "no_sensor" });
			return;
		}
		this.#sampling = true;
		dht.sample((reading, status) => {
			this.#sampling = false;
			if (this.#stopped) return;
			if (reading) {
				this.#publishReading({ temperature: reading.thermometer.temperature, humidity: reading.hygrometer.humidity, status: "ok" });
				return;
			}
			const error = status.ok ? "unknown" : status.error;
			this.#o.log.warn("sensor.failed", { error, detail: status.ok ? undefined : status.detail, attempts: status.attempts });
			this.#publishReading({ temperature: null, humidity: null, status: error });
		});
	}

	/** alert_reset: clears the raised alerts (announced as cleared); returns their metrics. */
	resetAlerts(): Metric[] {
		const cleared = this.#alerts.reset();
		for (const metric of cleared) {
			const limits = this.#alertLimits(metric);
			this.#announceAlert({ metric, change: "cleared", value: this.#lastValue(metric), threshold: limits.threshold ?? 0, reason: "reset" });
		}
		return cleared;
	}

	#publishReading(reading: Reading): void {
		const o = this.#o;
		this.#lastReading = reading;
		const seq = ++this.#seq;
		const qos = o.config().mqtt.qos;
		const topics = o.topics();
		const body = telemetryMessage(o.facts(), seq, reading);
		const result = o.link.publish(o.outgoing("telemetry", topics.telemetry, body, qos, false, seq), true);
		if (result === "queued") o.log.info("telemetry.queued", { boot: o.boot, seq, reason: o.online() ? "the connection is busy" : "offline", queued: o.outboxSize() });
		if (topics.values) {
			const values = topics.values;
			if (reading.temperature !== null) o.link.publish(o.outgoing("value", values.temperature, reading.temperature.toFixed(1), qos), false);
			if (reading.humidity !== null) o.link.publish(o.outgoing("value", values.humidity, reading.humidity.toFixed(1), qos), false);
		}
		this.#checkAlert("temperature", reading.temperature);
		this.#checkAlert("humidity", reading.humidity);
	}

	#alertLimits(metric: Metric): { threshold: number | null; hysteresis: number } {
		const a = this.#o.config().alerts;
		return metric === "temperature"
			? { threshold: a.temperature, hysteresis: a.temperatureHysteresis }
			: { threshold: a.humidity, hysteresis: a.humidityHysteresis };
	}

	#checkAlert(metric: Metric, value: number | null): void {
		const change = this.#alerts.check(metric, value);
		if (change) this.#announceAlert(change);
	}

	#announceAlert(change: AlertChange): void {
		const o = this.#o;
		const raised = change.change === "raised";
		const body = alertMessage(o.facts(), change.metric, change.value, change.threshold, change.change, change.reason);
		o.log[raised ? "warn" : "info"](raised ? "alert.raised" : "alert.cleared", { metric: change.metric, value: change.value, threshold: change.threshold, reason: change.reason });
		const topics = o.topics();
		o.link.publish(o.outgoing(raised ? "alert" : "alert_cleared", raised ? topics.alert : topics.alertCleared, body, 1), true);
	}

	#lastValue(metric: Metric): number {
		const value = this.#lastReading?.[metric];
		return typeof value === "number" ? value : 0;
	}
}

/*
 * The client id comes from the real MAC, never from a placeholder, on the virtual clock:
 * - the wifi_ssid= build, where the WiFi driver has no MAC until the firmware's connect() starts it;
 * - the ssid= build, where the SDK has joined before main runs and the MAC is there at boot;
 * - a driver that gives no MAC: no CONNECT at all, identity.unavailable and retries instead.
 */

import test from "ava";
import { World, type DeviceHandle } from "../world";

const MAC = "24:6F:28:8E:A4:0C";
const CLIENT = "sensor_8EA40C";

const online = (d: DeviceHandle) => d.sim.device.supervisor.state === "ONLINE";

/** Every client id the broker ever saw in a CONNECT, accepted or refused. */
function connectIds(world: World): string[] {
	return [...world.broker.stats.connections.map((c) => c.clientId), ...world.broker.stats.refused.map((r) => r.clientId)];
}

test("wifi_ssid= build: no MAC at boot; the id is fixed once connect() starts the WiFi driver, and the first CONNECT carries it", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ mac: MAC, boot: false });
		t.is(d.sim.wifi.mac(), undefined, "the driver has no MAC before it is started");
		d.sim.boot();
		const boot = d.events("device.boot")[0];
		t.is(boot.clientId, null, "device.boot does not name an id it does not have");
		t.is(boot.mac, null);
		t.true(d.sim.wifi.initialised, "the supervisor's WiFi connect() started the driver");
		t.like(d.events("identity.ready")[0], { clientId: CLIENT, mac: MAC, level: "info" });
		t.is(world.network.stats.attempts.length, 0, "no TCP connection yet");

		// At every step: a connection to the broker only once the id is known.
		let early = 0;
		await world.runUntil(() => {
			if (world.network.stats.attempts.length > 0 && d.events("identity.ready").length === 0) early++;
			return online(d);
		}, 60_000);
		t.is(early, 0);
		const names = d.log.names();
		const at = (name: string) => names.indexOf(name);
		t.true(at("device.boot") < at("wifi.connecting") && at("wifi.connecting") < at("identity.ready"), names.join(" "));
		t.true(at("identity.ready") < at("jwt.minted") && at("jwt.minted") < at("mqtt.connecting"), names.join(" "));
		t.is(d.events("identity.ready").length, 1, "resolved once");

		const ids = connectIds(world);
		t.is(ids[0], CLIENT, "the first CONNECT carries the id of the real MAC");
		t.deepEqual([...new Set(ids)], [CLIENT]);
		t.false(ids.some((id) => id.endsWith("000000")), "never the placeholder sensor_000000");
		t.deepEqual(d.events("mqtt.connecting").map((r) => r.clientId), [CLIENT]);
		t.is(d.sim.device.clientId, CLIENT);
		t.is(d.sim.device.topics.telemetry, `smarthome/home1/${CLIENT}/telemetry`);
		await world.run(1_000);
		const status = JSON.parse(world.messages("/status")[0].payload);
		t.like(status, { deviceId: CLIENT, online: true, status: { clientId: CLIENT } });
		t.true(world.messages("/telemetry").every((m) => m.topic === `smarthome/home1/${CLIENT}/telemetry`));
		t.true(JSON.parse(world.messages("/telemetry")[0].payload).deviceId === CLIENT);
		d.sim.halt();
		await world.run(60_000);
		const will = world.messages("/status").at(-1)!;
		t.like(JSON.parse(will.payload), { online: false, deviceId: CLIENT, status: { clientId: CLIENT } }, "the will carries the real id");
	}
	finally {
		await world.close();
	}
});

test("ssid= build: the MAC is there at boot, so the id is in device.boot and identity.ready follows at once", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ mac: MAC, macFrom: "boot" });
		t.like(d.events("device.boot")[0], { clientId: CLIENT, mac: MAC });
		const names = d.log.names();
		t.is(names[names.indexOf("device.boot") + 1], "identity.ready", "right after device.boot, before WiFi is even asked");
		t.like(d.events("identity.ready")[0], { clientId: CLIENT, mac: MAC });
		t.is(d.sim.device.clientId, CLIENT, "known at once");
		t.is(d.sim.device.topics.status, `smarthome/home1/${CLIENT}/status`);
		await world.runUntil(() => online(d), 60_000);
		t.deepEqual([...new Set(connectIds(world))], [CLIENT]);
		t.is(d.events("identity.ready").length, 1);
		t.is(d.events("identity.unavailable").length, 0);
	}
	finally {
		await world.close();
	}
});

test("a WiFi driver that never gives a MAC: no CONNECT ever, identity.unavailable with backoff, nothing published", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ mac: MAC, macFrom: "never" });
		t.is(d.events("device.boot")[0].clientId, null);
		await world.run(10 * 60_000);
		t.is(d.sim.device.supervisor.state, "MQTT", "WiFi and time are up; only the id is missing");
		t.true(d.sim.device.supervisor.timeValid);
		t.is(world.network.stats.attempts.length, 0, "not even a TCP connection to the broker");
		t.deepEqual(connectIds(world), []);
		t.deepEqual(world.received, []);
		t.is(d.events("mqtt.connecting").length, 0);
		t.is(d.events("jwt.minted").length, 0, "no token for an id that does not exist");
		t.is(d.events("identity.ready").length, 0);

		const unavailable = d.events("identity.unavailable");
		t.true(unavailable.length >= 4 && unavailable.length <= 8, `${unavailable.length} retries in 10 min with backoff from 10 s`);
		for (const r of unavailable) {
			t.is(r.level, "error");
			t.regex(String(r.reason), /no MAC/);
			t.regex(String(r.fix), /never connects under a made-up id/);
		}
		const gaps = unavailable.slice(1).map((r, i) => Number(r.uptimeMs) - Number(unavailable[i].uptimeMs));
		t.true(gaps.every((gap) => gap >= 10_000), `retries at least the backoff floor apart: ${gaps.join(", ")}`);
		t.true(gaps.at(-1)! > gaps[0], "and backing off");
		const names = d.log.names();
		t.is(names[names.indexOf("identity.unavailable") + 1], "mqtt.backoff", "each one schedules a retry");
		t.throws(() => d.sim.device.clientId, { message: /no client id yet/ });
		t.throws(() => d.sim.device.topics, { message: /no topics before the client id/ });
	}
	finally {
		await world.close();
	}
});

test("a MAC that comes late: refused attempts until then, the next retry connects with the real id", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ mac: MAC, macFrom: "never" });
		await world.runUntil(() => d.events("identity.unavailable").length >= 2, 120_000);
		t.is(world.network.stats.attempts.length, 0);
		const lateAt = world.time.now;
		d.sim.wifi.macFrom = "connect";
		await world.runUntil(() => online(d), 120_000);
		const firstAttempt = world.network.stats.attempts[0];
		t.true(firstAttempt.at >= lateAt, "no connection before the MAC was there");
		t.deepEqual([...new Set(connectIds(world))], [CLIENT]);
		const names = d.log.names();
		t.true(names.lastIndexOf("identity.unavailable") < names.indexOf("identity.ready"));
		t.true(names.indexOf("identity.ready") < names.indexOf("mqtt.connecting"));
		t.is(d.events("identity.ready").length, 1);
		t.is(world.messages("/status")[0].topic, `smarthome/home1/${CLIENT}/status`);
	}
	finally {
		await world.close();
	}
});

test("after a restart on the wifi_ssid= build the driver starts without a MAC again; the id is the same", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ mac: MAC });
		await world.runUntil(() => online(d), 60_000);
		d.sim.system.restart("test restart");
		await world.runUntil(() => d.sim.boots === 2 && online(d), 60_000);
		t.deepEqual(d.events("device.boot").map((r) => r.clientId), [null, null]);
		t.deepEqual(d.events("identity.ready").map((r) => r.clientId), [CLIENT, CLIENT]);
		t.deepEqual([...new Set(connectIds(world))], [CLIENT]);
	}
	finally {
		await world.close();
	}
});

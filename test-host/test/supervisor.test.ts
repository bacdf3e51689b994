import test from "ava";
import { decode } from "../../modules/jwt/jwt";
import { World } from "../world";

const VALID_TIME = Date.UTC(2024, 0, 1);

test("boots through WIFI, TIME and MQTT to ONLINE, with the LED telling each stage", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ mac: "24:6F:28:8E:A4:0C" });
		await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
		const states = d.events("state.changed").map((r) => r.to);
		t.deepEqual(states, ["WIFI", "TIME", "MQTT", "ONLINE"]);
		t.deepEqual(d.events("led.pattern").map((r) => r.pattern), ["fast", "slow", "on"]);
		t.true(d.events("mqtt.connected")[0].uptimeMs < 5000, "online within 5 s of boot");
		t.is(d.sim.device.clientId, "sensor_8EA40C");
		t.is(d.sim.led.level, 1, "solid on while MQTT is connected");
	}
	finally {
		await world.close();
	}
});

test("no JWT is minted before the clock is valid, and its claims follow the configuration", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice();
		d.sim.sntp.failing = true;
		await world.run(120_000);
		t.is(d.events("jwt.minted").length, 0, "no token while SNTP fails");
		t.is(d.events("mqtt.connecting").length, 0);
		t.is(d.sim.device.supervisor.state, "TIME");
		d.sim.sntp.failing = false;
		await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
		const names = d.log.names();
		t.true(names.indexOf("time.synced") < names.indexOf("jwt.minted"));
		const minted = d.events("jwt.minted")[0];
		t.true((minted.iat as number) * 1000 > VALID_TIME);
		t.is(minted.exp, (minted.iat as number) + 3600);
		t.is(String(minted.preview).length, 23, "only the first 20 characters (and ...) are ever logged");
		const connection = world.broker.stats.connections.at(-1)!;
		t.is(connection.clientId, d.sim.device.clientId);
		t.is(connection.exp, minted.exp as number);
	}
	finally {
		await world.close();
	}
});

test("publishes telemetry and heartbeats on their intervals, status retained, will on power loss", async (t) => {
	const world = await World.create();
	try {
		const d = world.addDevice({ config: World.config({ telemetry: { interval: 20, heartbeat: 45 } }) });
		await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000);
		const start = world.time.now;
		await world.run(300_000);
		const telemetry = world.messages("/telemetry").filter((m) => m.at > start);
		const heartbeats = world.messages("/heartbeat").filter((m) => m.at > start);
		t.true(telemetry.length >= 14 && telemetry.length <= 16, `${telemetry.length} telemetry messages in 300 s at 20 s`);
		t.true(heartbeats.length >= 6 && heartbeats.length <= 7, `${heartbeats.length} heartbeats in 300 s at 45 s`);
		const status = world.messages("/status");
		t.true(status[0].retain);
		t.true(JSON.parse(status[0].payload).online);
		const body = JSON.parse(telemetry[0].payload);
		t.is(typeof body.sensors.temperature, "number");
		t.is(body.metadata.sensorStatus, "ok");
		t.regex(body.timestamp, /^20\d\d-\d\d-\d\dT/);
		d.sim.halt();
		await world.run(1000);
		const will = world.messages("/status").at(-1)!;
		t.false(JSON.parse(will.payload).online, "the broker published the will");
		t.true(will.retain);
	}
	finally {
		await world.close();
	}
});

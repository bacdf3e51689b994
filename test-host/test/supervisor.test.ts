import test from "ava";
import { decode } from "../../modules/jwt/jwt";
import { MemoryStore } from "../adapters/store";
import { RecordingSink, seededRandom } from "../adapters/system";
import { SimulatedDevice } from "../sim";
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
		const mintedAt = Math.floor(Date.parse(String(minted.ts)) / 1000);
		t.is(minted.exp, mintedAt + 3600, "exp = the time of minting + ttl");
		t.true((minted.iat as number) <= mintedAt && mintedAt - (minted.iat as number) <= 60, "iat never in the future, at most a minute early");
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

test("refused credentials: the fix names what to check for the auth mode in use", async (t) => {
	const world = await World.create({ auth: { mode: "password", users: { sensor_8EA40C: "right" } } });
	try {
		const password = world.addDevice({ mac: "24:6F:28:8E:A4:0C", config: World.config({ auth: { mode: "password", username: "sensor_8EA40C", password: "wrong" }, time: { wait: 0 } }) });
		const none = world.addDevice({ mac: "24:6F:28:8E:A4:0D", config: World.config({ auth: { mode: "none" }, time: { wait: 0 } }) });
		await world.run(30_000);
		const forPassword = password.events("mqtt.connect_failed")[0];
		t.is(forPassword.code, "credentials_refused");
		t.regex(String(forPassword.fix), /auth\.username/);
		t.regex(String(forPassword.fix), /SIGHUP/);
		t.regex(String(forPassword.fix), /dynamic security/);
		t.notRegex(String(forPassword.fix), /JWT|jwt|iss|aud/);
		const forNone = none.events("mqtt.connect_failed")[0];
		t.is(forNone.code, "credentials_refused");
		t.regex(String(forNone.fix), /auth\.mode/);
		t.notRegex(String(forNone.fix), /JWT|SIGHUP/);
	}
	finally {
		await world.close();
	}
	const jwtWorld = await World.create();
	try {
		const d = jwtWorld.addDevice({ config: World.config({ auth: { jwtSecret: "not-the-broker-secret" } }) });
		await jwtWorld.run(30_000);
		const fix = String(d.events("mqtt.connect_failed")[0].fix);
		t.regex(fix, /jwtSecret/);
		t.regex(fix, /iss/);
		t.regex(fix, /aud/);
		t.regex(fix, /clock/);
		t.notRegex(fix, /SIGHUP|dynamic security/);
	}
	finally {
		await jwtWorld.close();
	}
});

test("a transport that throws at connect is one failure per attempt, reported once, with one backoff", async (t) => {
	const world = await World.create();
	const log = new RecordingSink();
	const sim = new SimulatedDevice({
		config: World.config(),
		mac: "24:6F:28:8E:A4:0C",
		clock: () => world.time.clock(),
		world: world.time.worldClock(),
		tcp: (options) => {
			throw new RangeError(`Port should be >= 0 and < 65536. Received ${options.port}.`);
		},
		store: new MemoryStore(),
		log: log.sink,
		random: seededRandom(5),
	});
	try {
		sim.boot();
		await world.run(200_000);
		const attempts = log.events("mqtt.connecting").length;
		t.true(attempts >= 4, `${attempts} attempts`);
		t.is(log.events("mqtt.connect_failed").length, attempts, "one failure per attempt");
		const delays = log.events("mqtt.backoff").map((r) => r.delayMs as number);
		t.is(delays.length, attempts, "one backoff per attempt");
		delays.forEach((delay, i) => t.true(delay >= 10_000 * 2 ** i && delay <= 10_000 * 2 ** i * 1.25 + 1, `backoff ${i + 1}: ${delay} ms`));
	}
	finally {
		sim.halt();
		await world.close();
	}
});

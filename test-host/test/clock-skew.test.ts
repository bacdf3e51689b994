/*
 * A device whose clock differs a little from the broker's must still be let in. The embedded
 * broker checks tokens as EMQX before 5.8 does (exp > now, iat <= now, nbf <= now, no leeway) on
 * the world's clock; the device's clock is set by an SNTP server that is off by the skew.
 */

import test from "ava";
import { CLOCK_MARGIN, mint } from "jwt";
import { nodeHmac } from "../adapters/system";
import { emqxClaimsProblem } from "../brokers/embedded";
import { JWT_SECRET, World } from "../world";

for (const skewS of [30, -30]) {
	test.serial(`a device clock ${Math.abs(skewS)} s ${skewS > 0 ? "ahead of" : "behind"} the broker's connects, refreshes and is never refused or kicked`, async (t) => {
		const world = await World.create({ disconnectAfterExpire: true });
		try {
			const d = world.addDevice({ boot: false });
			d.sim.sntp.skewMs = skewS * 1000;
			d.sim.boot();
			t.true(await world.runUntil(() => d.sim.device.supervisor.state === "ONLINE", 60_000), "online");
			const minted = d.events("jwt.minted")[0];
			const deviceNow = Math.floor(d.sim.clock.wallTime() / 1000);
			t.true(Math.abs(deviceNow - Math.floor(world.time.worldTime() / 1000) - skewS) <= 1, "the device's clock is off by the skew");
			t.true(Math.abs((minted.iat as number) - (deviceNow - CLOCK_MARGIN)) <= 1, "iat a minute before the device's now");
			t.is((minted.exp as number) - (minted.iat as number), 3600 + CLOCK_MARGIN, "exp is the device's now + ttl");
			await world.run(2 * 3_600_000);
			t.is(world.broker.stats.refusedTotal, 0, world.broker.stats.refused.map((r) => r.reason).join("; "));
			t.is(d.events("mqtt.connect_failed").length, 0);
			t.deepEqual(world.broker.stats.expiredKicks, []);
			t.true(d.events("jwt.minted").length >= 4, "fresh tokens on the 30-minute refresh");
			t.is(d.sim.device.supervisor.state, "ONLINE");
		}
		finally {
			await world.close();
		}
	});
}

test.serial("the control: a token minted without the margin by a clock one second ahead is refused by the same broker", async (t) => {
	const world = await World.create();
	try {
		const now = world.time.worldTime() / 1000;
		const base = { secret: JWT_SECRET, issuer: "esp32-sensor", audience: "emqx", hmac: nodeHmac };
		const rules = { issuer: "esp32-sensor", audience: "emqx" };
		t.regex(emqxClaimsProblem(mint({ ...base, now: now + 1, margin: 0 }).claims, rules, world.time.worldTime()) ?? "accepted", /iat .* is later than the broker's clock/);
		t.is(emqxClaimsProblem(mint({ ...base, now: now + 59 }).claims, rules, world.time.worldTime()), undefined);
		t.is(emqxClaimsProblem(mint({ ...base, now: now - 59 }).claims, rules, world.time.worldTime()), undefined);
	}
	finally {
		await world.close();
	}
});

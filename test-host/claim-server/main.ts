/*
 * `npm run claim-server`: Debian's Mosquitto with dynamic security and the stand-in claim server,
 * for demos with `npm start -- --setup`. Prints the broker, the claim URL and a fresh claim code;
 * `curl -X POST <url>/codes` issues more. Ctrl-C stops both.
 */

import { requireMosquitto, startMosquitto } from "../brokers/mosquitto";
import { startClaimServer } from "./server";

const port = Number(process.env.CLAIM_PORT ?? 8787);

async function main(): Promise<void> {
	if (!(await requireMosquitto({ log: (m) => console.error(m) }))) process.exit(1);
	const broker = await startMosquitto({ dynsec: { adminUser: "admin", adminPassword: "admin-pass" } });
	const brokerUrl = `mqtt://127.0.0.1:${broker.port}`;
	const server = await startClaimServer({ broker, brokerUrl, port });
	const { code, expiresAt } = server.issue(600);
	console.log(`Mosquitto (dynamic security): ${brokerUrl}`);
	console.log(`Claim URL:                    ${server.claimUrl}`);
	console.log(`Claim code:                   ${code} (expires ${new Date(expiresAt).toISOString()})`);
	console.log(`More codes:                   curl -X POST ${server.url}/codes -d '{"ttlSeconds":600}'`);
	const stop = async () => {
		await server.close();
		await broker.stop();
		process.exit(0);
	};
	process.on("SIGINT", () => void stop());
	process.on("SIGTERM", () => void stop());
}

main().catch((e: unknown) => {
	console.error(e instanceof Error ? e.message : e);
	process.exit(1);
});

/*
 * npm run ota -- keygen | sign | publish   (the operator's tools for firmware updates)
 *
 *   keygen  [--out DIR]                       a P-256 signing key pair; prints where the public key goes
 *   sign    --key PEM --image FILE --version X [--board esp32s3] [--name esp32-sensor]
 *           [--url URL] [--allow-downgrade] [--out manifest.json]
 *   publish --manifest FILE --broker mqtt://HOST:PORT (--device CLIENT_ID | --fleet --expect N)
 *           [--image FILE [--http-port 8070] [--advertise HOST]] [--url URL]
 *           [--username U --password P] [--ca PEM] [--topic-scheme tenant] [--tenant-id ID]
 *           [--home-id ID] [--timeout SECONDS]
 *
 *   sim-image --version X [--board esp32s3] [--size BYTES] --out FILE
 *           a simulated image for the host simulator (npm start -- --ota-public-key) or the Linux target
 *
 * Exit status: 0 success, 1 a device failed / rolled back / did not finish, 2 bad usage.
 */

import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseManifest, type FirmwareManifest } from "../../src/ota/manifest";
import type { TopicScheme } from "../../src/settings";
import { FIRMWARE_NAME } from "../../src/version";
import { generateSigningKey, publicHexFromPrivate, signManifest } from "./crypto";
import { makeSimImage, readSimImage } from "./image";
import { publishUpdate, type PublishTarget } from "./publish";
import { ImageServer } from "./server";

class UsageError extends Error {
	override name = "UsageError";
}

function need(value: string | undefined, flag: string): string {
	if (!value) throw new UsageError(`${flag} is required`);
	return value;
}

function readText(path: string, what: string): string {
	try {
		return readFileSync(path, "utf8");
	}
	catch (e) {
		throw new UsageError(`cannot read ${what} ${path}: ${(e as Error).message}`);
	}
}

export function keygen(args: string[], out: (line: string) => void): number {
	const { values } = parseArgs({ args, options: { out: { type: "string", default: "ota-keys" } } });
	const dir = resolve(values.out!);
	const privatePath = join(dir, "ota-signing-key.pem");
	if (existsSync(privatePath)) throw new UsageError(`${privatePath} exists: refusing to overwrite a signing key (devices trust its public half)`);
	mkdirSync(dir, { recursive: true });
	const keys = generateSigningKey();
	writeFileSync(privatePath, keys.privatePem, { mode: 0o600 });
	chmodSync(privatePath, 0o600);
	writeFileSync(join(dir, "ota-public-key.txt"), keys.publicHex + "\n");
	out(`private key: ${privatePath} (keep it secret and off the devices; it signs every update)`);
	out(`public key:  ${join(dir, "ota-public-key.txt")}`);
	out("");
	out("Build the public key into the firmware (mc/config key ota_public_key):");
	out(`  mcconfig -d -m -p esp32/esp32s3 ota_public_key=${keys.publicHex}`);
	out(`or in manifest.json "config": { "ota_public_key": "${keys.publicHex}" }`);
	out("(the host simulator and the tests build their own; see docs/ota.md)");
	return 0;
}

export function sign(args: string[], out: (line: string) => void): number {
	const { values } = parseArgs({ args, options: { key: { type: "string" }, image: { type: "string" }, version: { type: "string" }, board: { type: "string" }, name: { type: "string" }, url: { type: "string" }, "allow-downgrade": { type: "boolean", default: false }, out: { type: "string" } } });
	const keyPem = readText(need(values.key, "--key"), "the signing key");
	const imagePath = need(values.image, "--image");
	let image: Buffer;
	try {
		image = readFileSync(imagePath);
	}
	catch (e) {
		throw new UsageError(`cannot read the image ${imagePath}: ${(e as Error).message}`);
	}
	const header = readSimImage(image);
	const version = values.version ?? header?.version;
	if (!version) throw new UsageError("--version is required (MAJOR.MINOR.PATCH)");
	const manifest = signManifest({ image, name: values.name ?? header?.name ?? FIRMWARE_NAME, version, board: values.board ?? header?.board ?? "esp32s3", url: values.url ?? `http://localhost/${basename(imagePath)}`, allowDowngrade: values["allow-downgrade"] }, keyPem);
	const check = parseManifest(JSON.stringify(manifest));
	if (!check.ok) throw new UsageError(`the manifest would be refused: ${check.error}`);
	const path = values.out ?? `${imagePath}.manifest.json`;
	writeFileSync(path, JSON.stringify(manifest, null, "\t") + "\n");
	out(`signed ${manifest.name} ${manifest.version} for ${manifest.board}: ${manifest.size} bytes, sha256 ${manifest.sha256}`);
	out(`manifest: ${path} (public key ${publicHexFromPrivate(keyPem).slice(0, 18)}…)`);
	return 0;
}

export function simImage(args: string[], out: (line: string) => void): number {
	const { values } = parseArgs({ args, options: { version: { type: "string" }, board: { type: "string", default: "esp32s3" }, size: { type: "string", default: String(96 * 1024) }, out: { type: "string" } } });
	const version = need(values.version, "--version");
	if (!/^\d+\.\d+\.\d+$/.test(version)) throw new UsageError("--version must be MAJOR.MINOR.PATCH");
	const size = Number(values.size);
	if (!Number.isInteger(size) || size < 1024) throw new UsageError("--size must be a whole number of bytes, at least 1024");
	const path = need(values.out, "--out");
	writeFileSync(path, makeSimImage({ name: FIRMWARE_NAME, version, board: values.board! }, size));
	out(`simulated image ${FIRMWARE_NAME} ${version} for ${values.board}: ${path} (${size} bytes)`);
	return 0;
}

function advertisedAddress(): string {
	for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
	return "127.0.0.1";
}

export async function publish(args: string[], out: (line: string) => void): Promise<number> {
	const { values } = parseArgs({ args, options: {
		manifest: { type: "string" }, image: { type: "string" }, url: { type: "string" }, "http-port": { type: "string", default: "8070" }, advertise: { type: "string" },
		broker: { type: "string" }, username: { type: "string" }, password: { type: "string" }, ca: { type: "string" },
		"topic-scheme": { type: "string", default: "tenant" }, "tenant-id": { type: "string", default: "default" }, "home-id": { type: "string", default: "home1" },
		device: { type: "string" }, fleet: { type: "boolean", default: false }, expect: { type: "string" }, timeout: { type: "string", default: "900" },
	} });
	const parsed = parseManifest(readText(need(values.manifest, "--manifest"), "the manifest"));
	if (!parsed.ok) throw new UsageError(`bad manifest: ${parsed.error}`);
	const manifest: FirmwareManifest = { ...parsed.manifest };
	const scheme = values["topic-scheme"] as TopicScheme;
	if (!["tenant", "sensor", "smarthome"].includes(scheme)) throw new UsageError("--topic-scheme must be tenant, sensor or smarthome");
	let target: PublishTarget;
	if (values.fleet) {
		const expect = Number(values.expect);
		if (!Number.isInteger(expect) || expect < 1) throw new UsageError("--fleet needs --expect N (how many devices to wait for)");
		target = { fleet: true, expect };
	}
	else target = { device: need(values.device, "--device or --fleet") };
	const timeout = Number(values.timeout);
	if (!(timeout > 0)) throw new UsageError("--timeout must be a number of seconds");
	let server: ImageServer | undefined;
	if (values.image) {
		const image = readFileSync(values.image);
		const digest = createHash("sha256").update(image).digest("hex");
		if (digest !== manifest.sha256 || image.length !== manifest.size) throw new UsageError(`${values.image} is not the image the manifest was signed for (size ${image.length}, sha256 ${digest.slice(0, 16)}…)`);
		server = new ImageServer();
		const path = `/${basename(values.image)}`;
		server.add(path, image);
		await server.listen(Number(values["http-port"]), "0.0.0.0");
		manifest.url = `http://${values.advertise ?? advertisedAddress()}:${values["http-port"]}${path}`;
		out(`serving ${values.image} at ${manifest.url}`);
	}
	else if (values.url) manifest.url = values.url;
	try {
		const summary = await publishUpdate({
			manifest, broker: need(values.broker, "--broker"), username: values.username, password: values.password, ca: values.ca ? readText(values.ca, "the CA") : undefined,
			scheme, tenantId: values["tenant-id"], homeId: values["home-id"], target, timeoutMs: timeout * 1000, out,
		});
		return summary.ok ? 0 : 1;
	}
	finally {
		await server?.close();
	}
}

export async function main(argv: string[], out: (line: string) => void = (line) => process.stderr.write(line + "\n")): Promise<number> {
	const [command, ...rest] = argv;
	try {
		switch (command) {
			case "keygen":
				return keygen(rest, out);
			case "sign":
				return sign(rest, out);
			case "publish":
				return await publish(rest, out);
			case "sim-image":
				return simImage(rest, out);
			default:
				out("usage: npm run ota -- keygen | sign | publish | sim-image (see docs/ota.md)");
				return 2;
		}
	}
	catch (e) {
		if (e instanceof UsageError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
			out(`ota ${command}: ${(e as Error).message}`);
			return 2;
		}
		out(`ota ${command}: ${(e as Error).message}`);
		return 1;
	}
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
	main(process.argv.slice(2)).then((code) => process.exit(code));
}

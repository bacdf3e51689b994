/*
 * `npm run screenshots`: the setup page at phone width (390x844) in Debian's Chromium, saved as
 * docs/images/setup-*.png: the page as it opens, field errors, a wrong WiFi password, and done.
 */

import path from "node:path";
import { fileURLToPath } from "node:url";
import { EmbeddedBroker } from "../brokers/embedded";
import { fill, launchBrowser, phonePage, setupBoard, unconfigured, until } from "./testing";

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/images");

async function main(): Promise<void> {
	const browser = await launchBrowser({ log: (m) => console.error(m), fail: (m) => { throw new Error(m); } });
	if (!browser) process.exit(1);
	const broker = await EmbeddedBroker.start({ auth: { mode: "none" } });
	const port = await broker.listen();
	const board = setupBoard(unconfigured());
	try {
		await until(() => board.sim.setupMode?.url !== undefined, 5000, "the setup page");
		const page = await phonePage(browser);
		await page.goto(board.sim.setupMode!.url!);
		await page.waitForSelector("#nets li >> text=lab");
		await page.screenshot({ path: path.join(OUT, "setup-page.png") });

		await fill(page, { ssid: "lab", password: "lab-password-1", brokerUrl: "mqtt://broker.example:99999", authMode: "none", homeId: "flat/7" });
		await page.click("#save");
		await page.waitForSelector("#err-brokerUrl:has-text('out of range')");
		await page.locator("#brokerUrl").scrollIntoViewIfNeeded();
		await page.screenshot({ path: path.join(OUT, "setup-field-errors.png") });

		await fill(page, { brokerUrl: `mqtt://127.0.0.1:${port}`, homeId: "flat7", password: "wrong-password" });
		await page.click("#save");
		await page.waitForSelector("#err-password:has-text('wrong WiFi password')", { timeout: 15_000 });
		await page.evaluate("window.scrollTo(0, 0)");
		await page.screenshot({ path: path.join(OUT, "setup-wrong-password.png") });

		await page.fill("#password", "lab-password-1");
		await page.click("#save");
		await page.waitForSelector(".msg.ok", { timeout: 15_000 });
		await page.evaluate("window.scrollTo(0, 0)");
		await page.screenshot({ path: path.join(OUT, "setup-done.png") });
		console.log(`screenshots in ${OUT}`);
	}
	finally {
		board.sim.halt();
		await browser.close();
		await broker.close();
	}
}

main().then(() => process.exit(0), (e: unknown) => {
	console.error(e);
	process.exit(1);
});

import { XsWorker } from "../../xs/xsnap";
import { bundle, POLYFILL, moddableMqttPath } from "./run";
const w = await XsWorker.start();
await w.evaluate(POLYFILL);
await w.evaluate(await bundle(moddableMqttPath()));
await w.evaluate(`var B = __xsb; var T = "smarthome/home1/sensor_a1b2c3d4e5f6/telemetry"; var P = B.payloadBytes(256); var O0 = B.oursOpen(8); var S = O0.socket; var C = O0.client; var N = 50000; 0`);
async function unit(label: string, body: string) {
	const ts: number[] = [];
	for (let r = 0; r < 5; r++) {
	const t = await w.evaluateJson<number>(`var t0 = performance.now(); for (var i = 0; i < N; i++) { ${body} } var t1 = performance.now(); for (var i = 0; i < N; i++) { } (t1 - t0 - (performance.now() - t1)) * 1000 / N`);
	ts.push(t);
	}
	ts.sort((a, b) => a - b);
	console.log(label.padEnd(40), ts[2].toFixed(3), "us");
}
await w.evaluate("var Q = new Uint8Array(400); var TB = new Uint8Array(ArrayBuffer.fromString(T)); var M0 = B.moddableOpen(); var PA = P.slice().buffer; 0");
await unit("publish", "C.publish(T, P)");
await unit("moddable publish", "M0.client.publish(T, PA)");
await unit("Q.set(P, 10)", "Q.set(P, 10)");
await unit("Q.set(TB, 3)", "Q.set(TB, 3)");
await unit("new Uint8Array(PA)", "new Uint8Array(PA)");
await unit("encodePublish", "B.encodePublish(TB, P, 0, false, 0, false, 1024)");
await unit("C.maximumPacketSize", "C.maximumPacketSize");
await unit("queuedBytes getter", "O0.client.queuedBytes");
await unit("socket.write()", "S.write()");
await unit("socket.write(buf)", "S.write(PA)");
await unit("map get", "C.x");
await unit("obj literal", "({ok: true, id: 0, bytes: 3, qos: 0})");
await unit("performance.now", "performance.now()");
await unit("fromString topic", "ArrayBuffer.fromString(T)");
await unit("new Uint8Array(300)", "new Uint8Array(300)");
await w.close();

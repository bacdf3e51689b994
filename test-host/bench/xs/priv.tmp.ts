import { XsWorker } from "../../xs/xsnap";
const w = await XsWorker.start();
const methods = Array.from({ length: 60 }, (_, i) => `#m${i}() { return ${i}; }`).join("\n");
const fields = Array.from({ length: 40 }, (_, i) => `#f${i} = ${i};`).join("\n");
await w.evaluate(`
class A { #x = 1; get() { let s = 0; for (let i = 0; i < 100000; i++) s += this.#x; return s; } }
class B { ${methods} #x = 1; get() { let s = 0; for (let i = 0; i < 100000; i++) s += this.#x; return s; } }
class C { ${fields} #x = 1; get() { let s = 0; for (let i = 0; i < 100000; i++) s += this.#x; return s; } }
class D { #x = 1; ${fields} ${methods} get() { let s = 0; for (let i = 0; i < 100000; i++) s += this.#x; return s; } }
class E { x = 1; ${fields} get() { let s = 0; for (let i = 0; i < 100000; i++) s += this.x; return s; } }
class F { ${fields.replace(/#/g, "")} x = 1; get() { let s = 0; for (let i = 0; i < 100000; i++) s += this.x; return s; } }
var objs = { A: new A(), B: new B(), C: new C(), D: new D(), E: new E(), F: new F() }; 0`);
for (let r = 0; r < 2; r++) for (const k of ["A", "B", "C", "D", "E", "F"]) {
	const t = await w.evaluateJson<number>(`var t0 = performance.now(); objs.${k}.get(); (performance.now() - t0) * 10`);
	console.log(k, t.toFixed(3), "ns/access", w.lastMeter?.compute);
}
await w.close();

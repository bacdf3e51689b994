/*
 * Memory figures from Moddable's `instrumentation` module (modules/base/instrumentation).
 *
 * The SDK compiles instrumentation in for debug (-d) and instrumented (-i) builds only; in a release
 * build the values are not collected and every reading here is undefined. Indexes are looked up
 * by name once (Instrumentation.map), so a name the SDK does not know is simply absent.
 */

import Instrumentation from "instrumentation";

const instrumentation = Instrumentation as unknown as {
	get(what: number): unknown;
	map(name: string): unknown;
};

export type MemoryFigure = "System Free Memory" | "XS Slot Heap Used" | "XS Chunk Heap Used" | "XS Stack Used" | "XS Keys Used";

export class MemoryGauge {
	readonly #indexes = new Map<MemoryFigure, number>();

	constructor(figures: readonly MemoryFigure[]) {
		for (const figure of figures) {
			try {
				const index = instrumentation.map(figure);
				if (typeof index === "number") this.#indexes.set(figure, index);
			}
			catch {
				// Not instrumented: the figure stays unknown.
			}
		}
	}

	/** The current value, or undefined when the build does not collect it. */
	read(figure: MemoryFigure): number | undefined {
		const index = this.#indexes.get(figure);
		if (index === undefined) return undefined;
		try {
			const value = instrumentation.get(index);
			return typeof value === "number" && value > 0 ? value : undefined;
		}
		catch {
			return undefined;
		}
	}
}

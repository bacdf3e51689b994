/*
 * LogSink port: each record as the serial-monitor line (events.ts formatHuman) through trace(),
 * which goes to xsbug in debug builds (or the terminal with mcconfig -l) and to the serial console
 * otherwise.
 */

import { formatHuman } from "../events";
import type { LogRecord, LogSink } from "../ports";

export const consoleLog: LogSink = (record: LogRecord) => {
	trace(formatHuman(record) + "\n");
};

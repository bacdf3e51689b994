/*
 * Host functions of the Linux target's process (platforms/linux/host.c).
 */
export function exit(code) @ "xs_linux_exit";
export function getenv(name) @ "xs_linux_getenv";
export function onSignal(callback) @ "xs_linux_on_signal";
export function memory() @ "xs_linux_memory";
export function collect() @ "xs_linux_collect";

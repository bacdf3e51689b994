/** Moddable's `mqtt` module ($MODDABLE/modules/network/mqtt/mqtt.js), or undefined without the SDK (see run.ts). */
declare module "moddable-mqtt" {
	const Client: unknown;
	export default Client;
}

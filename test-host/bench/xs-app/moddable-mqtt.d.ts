/** Moddable's `mqtt` module ($MODDABLE/modules/network/mqtt/mqtt.js), as the benchmark app uses it. */
declare module "mqtt" {
	const Client: unknown;
	export default Client;
}

/*
 * DnsServers port over Moddable's DNS server (`dns/server`, modules/network/dns/dnsserver.js): the
 * captive portal. Every A query is answered with the access point's address.
 */

import DNSServer from "dns/server";
import type { DnsServers } from "../ports";

interface Instance {
	close(): void;
}

const Server = DNSServer as unknown as new (callback: (message: number, value: string) => string | undefined, options?: { port?: number }) => Instance;

export const moddableDnsServers: DnsServers = Object.freeze({
	start(address: string, port: number, listening: (port: number) => void) {
		const server = new Server((message) => (message === 1 ? address : undefined), { port });
		listening(port);
		return {
			close() {
				server.close();
			},
		};
	},
});

/*
 * TLS for the socket adapter (src/adapters/socket.ts) over Moddable's `securesocket`.
 *
 * The CA (mqtt.ca) is PEM text, or the name of a resource built into the firmware (e.g. "ca.der",
 * DER or PEM inside; see certs/ in the README). Without a CA no certificate is passed and Moddable
 * looks for the issuer among the CA certificates built into the firmware.
 */

import Resource from "Resource";
import SecureSocket from "securesocket";
import { isPem, pemToDer } from "./pem";
import { exactBuffer, type ClassicSocket, type Dictionary, type TlsSockets } from "./socket";

const TlsSocket = SecureSocket as unknown as new (dictionary: Dictionary) => ClassicSocket & { sock?: ClassicSocket };

const TLS_1_2 = 0x303;

export const secureSockets: TlsSockets = Object.freeze({
	open(dictionary, { serverName, ca }) {
		const certificate = loadCertificate(ca);
		if (typeof certificate === "string") return certificate;
		const secure: Dictionary = { protocolVersion: TLS_1_2, tls_server_name: serverName };
		if (certificate) secure.certificate = certificate;
		return new TlsSocket({ ...dictionary, secure });
	},
});

/**
 * The CA for SecureSocket: DER bytes (an ArrayBuffer, or the resource itself, which lives in
 * flash), undefined for none, or the reason it cannot be used.
 */
function loadCertificate(ca: string | undefined): ArrayBuffer | HostBuffer | undefined | string {
	if (!ca) return undefined;
	if (isPem(ca)) {
		const der = pemToDer(ca);
		return der ? exactBuffer(der) : "mqtt.ca holds PEM text without a readable certificate";
	}
	try {
		if (!Resource.exists(ca)) return `CA certificate resource "${ca}" is not in the firmware: put the file in certs/ and build again`;
		const resource = new Resource(ca);
		const head = String.fromArrayBuffer(resource.slice(0, Math.min(10, resource.byteLength)));
		if (!head.startsWith("-----BEGIN")) return resource;
		const der = pemToDer(String.fromArrayBuffer(resource.slice(0)));
		return der ? exactBuffer(der) : `CA certificate resource "${ca}" holds PEM text without a readable certificate`;
	}
	catch (e) {
		return `cannot read CA certificate resource "${ca}": ${String(e)}`;
	}
}

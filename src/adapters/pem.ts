/*
 * PEM to DER for a CA certificate: Moddable's TLS takes the certificate as DER bytes, while people
 * hand out PEM text. Plain ECMAScript (the base64 body is decoded with the bytes module).
 */

import { base64urlDecode } from "bytes";

const BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/;

export function isPem(text: string): boolean {
	return text.trimStart().startsWith("-----BEGIN");
}

/** The DER bytes of the first certificate in `text`, or undefined when there is none or it is not base64. */
export function pemToDer(text: string): Uint8Array | undefined {
	const match = BLOCK.exec(text);
	if (!match) return undefined;
	const body = match[1].replace(/\s+/g, "");
	if (!/^[A-Za-z0-9+/]+=*$/.test(body)) return undefined;
	const der = base64urlDecode(body.replace(/\+/g, "-").replace(/\//g, "_"));
	// A certificate is a DER SEQUENCE.
	return der && der.length > 2 && der[0] === 0x30 ? der : undefined;
}

/*
 * The captive portal's DNS answer: every A query gets the access point's address, so a phone
 * that joins the setup network and opens any page lands on the setup page. Other query types get
 * an empty answer (NOERROR). Malformed packets get no answer (undefined), never an exception.
 * (Moddable's dnsserver does the same on the board; the host's captive DNS uses this.)
 */

const TYPE_A = 1;
const CLASS_IN = 1;

/** The end of the question's name, or -1 when the packet is malformed. */
function nameEnd(packet: Uint8Array, offset: number): number {
	let i = offset;
	for (let labels = 0; labels < 128; labels++) {
		if (i >= packet.length) return -1;
		const length = packet[i];
		if (length === 0) return i + 1;
		if (length > 63) return -1; // compression pointers do not occur in a question
		i += 1 + length;
	}
	return -1;
}

/** The name asked for, e.g. "connectivitycheck.gstatic.com", or undefined. */
export function questionName(packet: Uint8Array): string | undefined {
	if (packet.length < 12) return undefined;
	const end = nameEnd(packet, 12);
	if (end < 0) return undefined;
	const labels: string[] = [];
	for (let i = 12; packet[i] !== 0; i += 1 + packet[i]) labels.push(String.fromCharCode(...packet.subarray(i + 1, i + 1 + packet[i])));
	return labels.join(".");
}

export function captiveAnswer(query: Uint8Array, address: string): Uint8Array | undefined {
	if (query.length < 12 || query.length > 512) return undefined;
	const flags = (query[2] << 8) | query[3];
	if (flags & 0x8000) return undefined; // a response, not a query
	if (((query[4] << 8) | query[5]) !== 1) return undefined; // exactly one question
	const end = nameEnd(query, 12);
	if (end < 0 || end + 4 > query.length) return undefined;
	const qtype = (query[end] << 8) | query[end + 1];
	const qclass = (query[end + 2] << 8) | query[end + 3];
	const ip = address.split(".").map(Number);
	if (ip.length !== 4 || ip.some((n) => !(n >= 0 && n <= 255))) return undefined;
	const answer = qtype === TYPE_A && qclass === CLASS_IN;
	const question = query.subarray(12, end + 4);
	const out = new Uint8Array(12 + question.length + (answer ? 16 : 0));
	out[0] = query[0];
	out[1] = query[1];
	out[2] = 0x84 | (query[2] & 0x01); // QR, AA, RD copied
	out[3] = 0x80; // RA, NOERROR
	out[5] = 1;
	out[7] = answer ? 1 : 0;
	out.set(question, 12);
	if (answer) {
		const a = 12 + question.length;
		out.set([0xc0, 12, 0, TYPE_A, 0, CLASS_IN, 0, 0, 0, 60, 0, 4, ip[0], ip[1], ip[2], ip[3]], a);
	}
	return out;
}

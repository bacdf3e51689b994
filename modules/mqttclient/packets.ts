/*
 * MQTT control packets as plain objects, for MQTT 3.1.1 (protocol level 4) and 5.0 (level 5).
 * Names follow the specification. Payloads and binary data are Uint8Array.
 */

export type ProtocolVersion = 4 | 5;
export type QoS = 0 | 1 | 2;

/** MQTT 5.0 properties (section 2.2.2.2). Repeatable ones are arrays. */
export interface Properties {
	payloadFormatIndicator?: number;
	messageExpiryInterval?: number;
	contentType?: string;
	responseTopic?: string;
	correlationData?: Uint8Array;
	subscriptionIdentifier?: number[];
	sessionExpiryInterval?: number;
	assignedClientIdentifier?: string;
	serverKeepAlive?: number;
	authenticationMethod?: string;
	authenticationData?: Uint8Array;
	requestProblemInformation?: number;
	willDelayInterval?: number;
	requestResponseInformation?: number;
	responseInformation?: string;
	serverReference?: string;
	reasonString?: string;
	receiveMaximum?: number;
	topicAliasMaximum?: number;
	topicAlias?: number;
	maximumQoS?: number;
	retainAvailable?: number;
	userProperties?: [string, string][];
	maximumPacketSize?: number;
	wildcardSubscriptionAvailable?: number;
	subscriptionIdentifierAvailable?: number;
	sharedSubscriptionAvailable?: number;
}

export interface Will {
	topic: string;
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
	properties?: Properties;
}

export interface ConnectPacket {
	type: "connect";
	protocolVersion: ProtocolVersion;
	clientId: string;
	keepAlive: number;
	cleanStart: boolean;
	username?: string;
	password?: Uint8Array;
	will?: Will;
	properties?: Properties;
}

export interface ConnackPacket {
	type: "connack";
	sessionPresent: boolean;
	/** The 3.1.1 return code or the 5.0 reason code. */
	reasonCode: number;
	properties?: Properties;
}

export interface PublishPacket {
	type: "publish";
	topic: string;
	payload: Uint8Array;
	qos: QoS;
	retain: boolean;
	dup: boolean;
	/** Packet identifier, present when qos > 0. */
	id?: number;
	properties?: Properties;
}

export interface AckPacket {
	type: "puback" | "pubrec" | "pubrel" | "pubcomp";
	id: number;
	/** 5.0 only; absent means 0 (success). */
	reasonCode?: number;
	properties?: Properties;
}

export interface Subscription {
	topic: string;
	qos: QoS;
	noLocal?: boolean;
	retainAsPublished?: boolean;
	retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
	type: "subscribe";
	id: number;
	subscriptions: Subscription[];
	properties?: Properties;
}

export interface SubackPacket {
	type: "suback";
	id: number;
	/** Granted QoS (0..2) or a failure code (0x80 and up). */
	reasonCodes: number[];
	properties?: Properties;
}

export interface UnsubscribePacket {
	type: "unsubscribe";
	id: number;
	topics: string[];
	properties?: Properties;
}

export interface UnsubackPacket {
	type: "unsuback";
	id: number;
	/** 5.0 only. */
	reasonCodes?: number[];
	properties?: Properties;
}

export interface PingPacket {
	type: "pingreq" | "pingresp";
}

export interface DisconnectPacket {
	type: "disconnect";
	/** 5.0 only; absent means 0 (normal disconnection). */
	reasonCode?: number;
	properties?: Properties;
}

export interface AuthPacket {
	type: "auth";
	reasonCode?: number;
	properties?: Properties;
}

export type Packet =
	| ConnectPacket
	| ConnackPacket
	| PublishPacket
	| AckPacket
	| SubscribePacket
	| SubackPacket
	| UnsubscribePacket
	| UnsubackPacket
	| PingPacket
	| DisconnectPacket
	| AuthPacket;

export type PacketType = Packet["type"];

/** Control packet type numbers (fixed header bits 7..4). */
export const PACKET_TYPE_NUMBER: Readonly<Record<PacketType, number>> = Object.freeze({
	connect: 1,
	connack: 2,
	publish: 3,
	puback: 4,
	pubrec: 5,
	pubrel: 6,
	pubcomp: 7,
	subscribe: 8,
	suback: 9,
	unsubscribe: 10,
	unsuback: 11,
	pingreq: 12,
	pingresp: 13,
	disconnect: 14,
	auth: 15,
});

export const PACKET_TYPE_NAME: readonly (PacketType | undefined)[] = Object.freeze([
	undefined,
	"connect",
	"connack",
	"publish",
	"puback",
	"pubrec",
	"pubrel",
	"pubcomp",
	"subscribe",
	"suback",
	"unsubscribe",
	"unsuback",
	"pingreq",
	"pingresp",
	"disconnect",
	"auth",
]);

/* Bundled into xsnap by utf8.test.ts: the bytes module as the device runs it. */
export { NATIVE_UTF8, asciiString, base64urlEncode, utf8Encode, utf8EncodeJs } from "bytes";

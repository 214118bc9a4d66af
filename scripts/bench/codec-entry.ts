/**
 * What the codec benchmark measures of ours, in one module: loaded as an
 * esbuild bundle (plain JS, as the codec ships to boards) and through tsx.
 */
export { PacketReader } from "../../firmware/codec/reader";
export { Decoded, decodePacket } from "../../firmware/codec/decode";
export { encodePublish, encodeSubscribe } from "../../firmware/codec/encode";

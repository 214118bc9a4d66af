/**
 * What the codec benchmark measures of ours, in one module: loaded as an
 * esbuild bundle (plain JS, as the codec ships to boards) and through tsx.
 */
export { PacketReader } from "../../firmware/core/codec/reader";
export { Decoded, decodePacket } from "../../firmware/core/codec/decode";
export { encodePublish, encodeSubscribe } from "../../firmware/core/codec/encode";

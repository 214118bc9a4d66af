import { createHash, pbkdf2Sync } from "node:crypto";
import { Hashes } from "../firmware/core/platform";

/**
 * The desktop's hashes for authentication, over binary strings (one char per
 * byte): input read as latin1, digest returned as latin1.
 */
export const nodeHashes: Hashes = {
  sha256: function (data: string): string {
    return createHash("sha256").update(Buffer.from(data, "latin1")).digest().toString("latin1");
  },
  sha512: function (data: string): string {
    return createHash("sha512").update(Buffer.from(data, "latin1")).digest().toString("latin1");
  },
  pbkdf2Sha512: function (password: string, salt: string, iterations: number, keyLen: number): string {
    return pbkdf2Sync(Buffer.from(password, "latin1"), Buffer.from(salt, "latin1"), iterations, keyLen, "sha512").toString("latin1");
  },
};

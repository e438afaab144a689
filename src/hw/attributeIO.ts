/**
 * One sysfs attribute read or written with the errors every frequency module gives (one
 * errno -> error mapping, src/hw/ioError.ts, with the module's own hints for a failed write).
 * `readUInt` is for a reading that may legitimately be absent (a `*_cur_freq` a driver does not
 * offer, or offers only to root): anything but an unsigned integer is null, never an error.
 */
import { ioError, type FixHints } from "./ioError.js";
import type { SysIO } from "./sysIO.js";

export interface AttributeIO {
  write(path: string, value: string): Promise<void>;
  read(path: string): Promise<string>;
  readUInt(path: string): Promise<number | null>;
}

export function attributeIO(io: SysIO, writeHints: FixHints): AttributeIO {
  return {
    async write(path, value) {
      try {
        await io.write(path, value);
      } catch (err) {
        throw ioError(err, "write", path, writeHints, value);
      }
    },
    async read(path) {
      const [r] = await io.readMany([path]);
      if (r === undefined || !r.ok) throw ioError(r, "read", path);
      return r.text;
    },
    async readUInt(path) {
      const [r] = await io.readMany([path]);
      if (r === undefined || !r.ok || !/^\d+$/.test(r.text.trim())) return null;
      return Number(r.text.trim());
    },
  };
}

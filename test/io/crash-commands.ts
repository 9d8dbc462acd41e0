/** The commands wal-crash-child.ts writes, shared with wal-crash.test.ts, which checks them. */

/** The command written at `index`: its bytes are a function of the index alone, 1..700 bytes long. */
export function crashCommand(index: number): Uint8Array {
  const bytes = new Uint8Array(1 + (((index * 2654435761) >>> 0) % 700));
  for (let i = 0; i < bytes.length; i++) bytes[i] = (index + i * 13) & 0xff;
  return bytes;
}

/** The junk a batch writes and truncates in the same write; recovery may keep it only past the acknowledged end. */
export function junkCommand(index: number): Uint8Array {
  return new Uint8Array(32).fill((index & 0xff) ^ 0xa5);
}

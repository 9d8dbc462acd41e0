/**
 * Always-on assertion for programmer errors and invariants. A failed assert throws loudly;
 * operating failures (disk, network) are events, never asserts.
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) {
    throw new AssertionError(message);
  }
}

export class AssertionError extends Error {
  constructor(message: string) {
    super(`assertion failed: ${message}`);
    this.name = 'AssertionError';
  }
}

import { spawnServe as spawn, type ServeProcess, type ServeSpec } from '../../src/net/serve-process.ts';

/**
 * `raftchart serve` processes for the tests of src/net (src/net/serve-process.ts), each ending by
 * itself after serveLifetimeSeconds should the test that started it die.
 */
export { freePorts, type ServeProcess, type ServeSpec } from '../../src/net/serve-process.ts';

export const serveLifetimeSeconds = 180;

export function spawnServe(spec: ServeSpec): ServeProcess {
  return spawn({ ...spec, args: ['--seconds', String(serveLifetimeSeconds), ...(spec.args ?? [])] });
}

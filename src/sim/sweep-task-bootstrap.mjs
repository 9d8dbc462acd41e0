// Piscina loads this file in each worker: register tsx, then run the TypeScript task.
import { register } from 'tsx/esm/api';

register();
const { runSeedBatch } = await import('./sweep-task.ts');
export default runSeedBatch;

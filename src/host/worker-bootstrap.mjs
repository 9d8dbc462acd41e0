// A Worker cannot load .ts through execArgv on Node 20: register tsx, then run the TypeScript entry.
import { register } from 'tsx/esm/api';

register();
await import('./worker-entry.ts');

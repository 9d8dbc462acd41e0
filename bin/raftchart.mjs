#!/usr/bin/env node
// Starts the raftchart command. In a clone of the repository (src/ is there) it runs the TypeScript
// sources through tsx, a devDependency, so `npm start` never runs a stale build; the package ships
// no src/, so installed it runs the compiled dist/.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(fileURLToPath(source))) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}

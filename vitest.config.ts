import { defineConfig } from 'vitest/config';

/** The paper tests run once per storage under the durable-log chart (test/paper/paper-disk.ts). */
const paperOverWal = (storage: 'wal-memory' | 'wal-real') => ({
  extends: true as const,
  test: { name: `paper over ${storage}`, include: ['test/paper/**/*.test.ts'], env: { RAFTCHART_PAPER_STORAGE: storage } },
});

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
    projects: [{ extends: true, test: { name: 'all', include: ['test/**/*.test.ts'] } }, paperOverWal('wal-memory'), paperOverWal('wal-real')],
  },
});

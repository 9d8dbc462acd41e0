import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { chromiumUnavailable, launchHeadlessChromium, pageProblems, type HeadlessChromium } from '../../bench/headless-chromium.ts';
import { Inspector } from '../../src/inspect/inspector-server.ts';
import { ClusterPool } from '../cluster/harness.ts';

/**
 * The inspector page in a real browser: Debian's Chromium, headless, driven by playwright-core
 * (no downloaded browser; CI installs the `chromium` package), started as the benchmark starts it
 * (bench/headless-chromium.ts). Screenshots of each step are kept in test-artifacts/inspector/.
 * Any console error or uncaught exception on the page fails the test.
 */

const artifacts = join(import.meta.dirname, '../../test-artifacts/inspector');
/** Generous: two busy cores can stall an election or a worker start for seconds. */
const stepMs = 20_000;

const pool = new ClusterPool();
let inspector: Inspector | null = null;
let browser: HeadlessChromium | null = null;

afterEach(async () => {
  await browser?.close();
  browser = null;
  await inspector?.close();
  inspector = null;
  await pool.stopAll();
});

async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const unavailable = await chromiumUnavailable();
  if (unavailable !== null) throw new Error(`${unavailable}.`);
  browser = await launchHeadlessChromium();
  const { page } = browser;
  const problems = pageProblems(page);
  await page.goto(url);
  return { page, problems };
}

async function shot(page: Page, name: string): Promise<void> {
  await mkdir(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** The id and term of the panel showing a leader of a term above `termAbove`. */
async function waitForLeaderPanel(page: Page, termAbove: number): Promise<{ id: string; term: number }> {
  const handle = await page.waitForFunction(
    (above) => {
      const panel = [...document.querySelectorAll<HTMLElement>('[data-role="leader"]')].find((p) => Number(p.dataset.term) > above);
      return panel === undefined ? null : { id: panel.dataset.nodeId ?? '', term: Number(panel.dataset.term) };
    },
    termAbove,
    { timeout: stepMs },
  );
  return (await handle.jsonValue()) as { id: string; term: number };
}

describe('the inspector page in Chromium', () => {
  it('shows a leader; crashing it from the page elects another; restart and proposals make every log grow, commit and snapshot', { timeout: 180_000 }, async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, fsync: false, snapshotEvery: 20 });
    inspector = await Inspector.start(cluster);
    const { page, problems } = await openPage(inspector.url);

    expect(await page.locator('[data-node-id]').count()).toBe(3);
    const first = await waitForLeaderPanel(page, 0);
    // Without diskFaults there is no disk to break.
    expect(await page.locator('button[data-action="fail-disk"]:visible').count()).toBe(0);
    // The pace the server sends at: 2 a second, 1 while this process is busy.
    expect(await page.locator('#connection').textContent()).toMatch(/^live · (2 updates\/s|1 update\/s \(cluster busy\))$/);
    // The leader's statechart lights the leader's states, drawn amber (whichever server leads by then: two busy cores may move leadership).
    const lit = page.locator('[data-role="leader"] .chart [data-state-path="leader.replicating"].active > rect').first();
    await lit.waitFor({ timeout: stepMs });
    expect(await lit.evaluate((rect) => getComputedStyle(rect).fill)).toBe('rgb(254, 243, 199)');
    // Each panel's copy of a drawing has ids of its own, and its arrows point at its own marker.
    const ids = await page.evaluate(() => [...document.querySelectorAll('[id]')].map((element) => element.id));
    expect(ids.length).toBeGreaterThan(6);
    expect(ids.length - new Set(ids).size).toBe(0);
    const arrowTargets = await page.locator(`[data-node-id="${first.id}"] .chart [marker-end]`).evaluateAll((paths) => [...new Set(paths.map((path) => path.getAttribute('marker-end')))]);
    expect(arrowTargets.length).toBeGreaterThan(0);
    for (const target of arrowTargets) expect(target).toMatch(new RegExp(`^url\\(#${first.id}-`));
    await shot(page, '1-leader');

    await page.click(`[data-node-id="${first.id}"] button[data-action="crash"]`);
    await page.waitForSelector(`[data-node-id="${first.id}"][data-role="down"]`, { timeout: stepMs });
    const second = await waitForLeaderPanel(page, first.term);
    expect(second.id).not.toBe(first.id);
    await shot(page, '2-new-leader');
    // The restarted server applies again from index 1 (the harness checks every apply).
    checker.reset(first.id);

    await page.click(`[data-node-id="${first.id}"] button[data-action="crash"]`);
    await page.waitForSelector(`[data-node-id="${first.id}"][data-alive="true"]`, { timeout: stepMs });

    const commitBefore = Math.max(...(await page.locator('[data-node-id]').evaluateAll((panels) => panels.map((p) => Number((p as HTMLElement).dataset.commitIndex)))));
    const proposeCount = 25;
    await page.fill('#propose-count', String(proposeCount));
    await page.click('#propose');
    await page.waitForFunction(() => document.querySelector('#notice')?.textContent?.includes('appended'), undefined, { timeout: stepMs });
    await page.waitForFunction(
      (target) => [...document.querySelectorAll<HTMLElement>('[data-node-id]')].every((p) => Number(p.dataset.commitIndex) >= target && p.querySelectorAll('.entry[data-committed="true"]').length > 0),
      commitBefore + proposeCount,
      { timeout: stepMs },
    );
    await shot(page, '3-committed');
    expect(await page.locator(`[data-node-id="${first.id}"] .entry`).count()).toBeGreaterThanOrEqual(proposeCount);
    // 25 commands and the no-ops pass snapshotEvery (20): each panel shows its snapshot and where its log starts (§7).
    await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('[data-node-id]')].every((p) => Number(p.dataset.snapshotIndex) >= 20), undefined, { timeout: stepMs });
    expect(await page.locator(`[data-node-id="${second.id}"] .snapshot`).textContent()).toMatch(/^through \d+ · log from 1$/);
    expect(problems).toEqual([]);
  });

  it('partitions the leader from the page: it steps down (CheckQuorum) while the majority elects another; heal leaves one leader', { timeout: 120_000 }, async () => {
    const { cluster } = await pool.start({ nodes: 3, fsync: false });
    inspector = await Inspector.start(cluster);
    const { page, problems } = await openPage(inspector.url);
    const first = await waitForLeaderPanel(page, 0);
    await page.click('#partition');
    const second = await waitForLeaderPanel(page, first.term);
    expect(second.id).not.toBe(first.id);
    await page.waitForSelector(`[data-node-id="${first.id}"]:not([data-role="leader"])`, { timeout: stepMs });
    await shot(page, '4-partitioned');
    await page.click('#heal');
    await page.waitForFunction(() => document.querySelectorAll('[data-role="leader"]').length === 1 && document.querySelectorAll('[data-connected="false"]').length === 0, undefined, { timeout: stepMs });
    await shot(page, '5-healed');
    expect(problems).toEqual([]);
  });

  it('adds a learner from the page: its panel appears marked a learner, every server shows the configuration; removing it takes the panel away', { timeout: 120_000 }, async () => {
    const { cluster } = await pool.start({ nodes: 3, fsync: false });
    inspector = await Inspector.start(cluster);
    const { page, problems } = await openPage(inspector.url);
    await waitForLeaderPanel(page, 0);
    await page.click('#add-learner');
    await page.waitForSelector('[data-node-id="n4"][data-member="learner"]', { timeout: stepMs });
    expect(await page.locator('[data-node-id]').evaluateAll((panels) => panels.map((p) => (p as HTMLElement).dataset.nodeId))).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(await page.locator('#cluster-info').textContent()).toMatch(/^4 servers · /);
    expect(await page.locator('[data-node-id="n4"] .member').textContent()).toBe('learner');
    expect(await page.locator('[data-node-id="n4"] button[data-action="promote"]').isVisible()).toBe(true);
    expect(await page.locator('[data-node-id="n1"] button[data-action="promote"]').isVisible()).toBe(false);
    // Each server's own view, the learner's too once the config entry reaches it.
    await page.waitForFunction(
      () => [...document.querySelectorAll('[data-node-id] .configuration')].every((line) => line.textContent === 'voters: n1 n2 n3 · learners: n4'),
      undefined,
      { timeout: stepMs },
    );
    await page.waitForFunction(() => document.querySelector('#notice')?.textContent?.startsWith('n4 added as a learner'), undefined, { timeout: stepMs });
    // The new panel has its own copy of the statecharts, lit, with ids of its own.
    await page.locator('[data-node-id="n4"] .chart .state.active').first().waitFor({ timeout: stepMs });
    const ids = await page.evaluate(() => [...document.querySelectorAll('[id]')].map((element) => element.id));
    expect(ids.length - new Set(ids).size).toBe(0);
    await shot(page, '7-learner-added');

    await page.click('[data-node-id="n4"] button[data-action="remove"]');
    await page.waitForFunction(() => document.querySelector('[data-node-id="n4"]') === null, undefined, { timeout: stepMs });
    expect(await page.locator('[data-node-id]').count()).toBe(3);
    // n4 was used: the next learner is n5.
    await page.click('#add-learner');
    await page.waitForSelector('[data-node-id="n5"][data-member="learner"]', { timeout: stepMs });
    expect(problems).toEqual([]);
  });

  it('breaks a follower disk from the page: its durable log retries, then the server shows as failed; restart mends it', { timeout: 120_000 }, async () => {
    const { cluster, checker } = await pool.start({ nodes: 3, fsync: false, diskFaults: true });
    inspector = await Inspector.start(cluster);
    const { page, problems } = await openPage(inspector.url);
    const leader = await waitForLeaderPanel(page, 0);
    const victim = cluster.nodeIds.find((id) => id !== leader.id) ?? 'n1';
    const button = page.locator(`[data-node-id="${victim}"] button[data-action="fail-disk"]`);
    expect(await button.isVisible()).toBe(true);
    await button.click();
    // Its next write fails: AppendEntries must bring it one.
    await page.fill('#propose-count', '5');
    await page.click('#propose');
    await page.waitForSelector(`[data-node-id="${victim}"][data-role="failed"]`, { timeout: stepMs });
    await shot(page, '6-disk-failed');
    checker.reset(victim);
    await page.click(`[data-node-id="${victim}"] button[data-action="crash"]`);
    await page.waitForSelector(`[data-node-id="${victim}"][data-role="down"]`, { timeout: stepMs });
    await page.click(`[data-node-id="${victim}"] button[data-action="crash"]`);
    await page.waitForSelector(`[data-node-id="${victim}"][data-alive="true"]:not([data-role="failed"])`, { timeout: stepMs });
    expect(problems).toEqual([]);
  });
});

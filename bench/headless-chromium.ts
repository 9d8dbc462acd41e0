import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

/**
 * Debian's Chromium, headless, driven by playwright-core: the inspector page's browser in the
 * browser test and in the benchmark. Never a downloaded browser: CI installs the `chromium`
 * package (.ci/run), and playwright-core is a dev dependency, loaded only when a browser starts.
 */

export const chromiumPath = '/usr/bin/chromium';

/**
 * Our flags, on top of Playwright's own defaults (which already turn off background timer
 * throttling and renderer backgrounding): no sandbox (containers and root), no GPU (none here;
 * software drawing), and none of the browser's own network chatter (QUIC, background networking,
 * component updates, sync, first-run pages), which would share the cores with what is measured.
 */
export const headlessChromiumArgs: readonly string[] = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The window the page is drawn in: wide enough for three server panels beside the bus. */
export const pageViewport = { width: 1400, height: 1000 } as const;

/** Why Chromium (at `executable`) cannot run here, or null when it can. */
export async function chromiumUnavailable(executable = chromiumPath): Promise<string | null> {
  if (!existsSync(executable)) return `${executable} is missing: install Debian's chromium (apt-get install -y chromium, as .ci/run does)`;
  try {
    await import('playwright-core');
  } catch {
    return 'playwright-core is not installed (a dev dependency: npm install in a checkout)';
  }
  return null;
}

/**
 * Where the browser's profile goes: a RAM-backed folder when there is one. A profile on the disk
 * the cluster's logs are on costs them: Chromium keeps writing it (and fsyncing it) while it
 * shows a page, ~14 KB and 2 flushes every 10 s here, each flush a journal commit the logs'
 * fdatasyncs then wait behind.
 */
export const profileParent = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/** One headless Chromium with a page open (on about:blank), its profile in a temp folder of its own. */
export interface HeadlessChromium {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Chromium's version, as it reports it ("HeadlessChrome/156.0…"). */
  version(): Promise<string>;
  /** Closes the browser and removes its profile; idempotent. */
  close(): Promise<void>;
}

/** Profiles of browsers not closed yet: removed on exit too (Playwright kills the browsers), so Ctrl-C leaves none in RAM. */
const liveProfiles = new Set<string>();
let removeOnExit: (() => void) | null = null;

/** Starts Debian's Chromium headless with our flags and a fresh profile under profileParent; the caller closes it. */
export async function launchHeadlessChromium(): Promise<HeadlessChromium> {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(profileParent, 'raftchart-chromium-'));
  liveProfiles.add(profile);
  if (removeOnExit === null) {
    removeOnExit = () => {
      for (const dir of liveProfiles) {
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          // The browser may still be writing it as the process ends: what is left is in RAM, and small.
        }
      }
    };
    process.once('exit', removeOnExit);
  }
  const removeProfile = async () => {
    await rm(profile, { recursive: true, force: true });
    liveProfiles.delete(profile);
  };
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath, args: [...headlessChromiumArgs], viewport: pageViewport });
  } catch (error) {
    await removeProfile();
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  let closing: Promise<void> | null = null;
  return {
    context,
    page,
    version: async () => ((await (await context.newCDPSession(page)).send('Browser.getVersion')) as { product: string }).product,
    close: () => (closing ??= context.close().finally(removeProfile)),
  };
}

/** Every console error and uncaught exception of `page`, as they come, into `problems`; returns it. */
export function pageProblems(page: Page, problems: string[] = []): string[] {
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  return problems;
}

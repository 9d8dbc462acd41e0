import { execFile } from 'node:child_process';

/**
 * A small real network for the tests of src/net: one Linux network namespace per server, each
 * with one veth whose other end sits on a bridge in a hub namespace (never the root namespace),
 * so a test can cut a server's cable, or make it slow and lossy, and touch no other network.
 * Names carry the test process's pid, so two runs never share a namespace; destroy() deletes
 * every namespace made (deleting one deletes its veths), even after a failed create.
 */

/** One `ip` or `tc` command may take this long before it counts as failed. */
const commandMsMax = 5000;
/** Server addresses are 10.77.0.11, .12, … on one /24. */
const subnet = '10.77.0';
const hostOffset = 11;

export interface Degradation {
  /** Each direction of the link carries at most this many kbit/s (a slow link: packets queue). */
  readonly rateKbit: number;
  /** This share of packets, in [0, 100), is dropped in each direction, at random. */
  readonly lossPercent: number;
}

export interface NetnsLab {
  /** The namespace server `id` runs in (`ip netns exec`). */
  namespaceOf(id: string): string;
  /** The IPv4 address of server `id` on the hub's bridge. */
  addressOf(id: string): string;
  /** Pulls `id`'s cable: its veth end on the hub goes down (no packet in or out, no reset sent). */
  cut(id: string): Promise<void>;
  /** Plugs `id`'s cable back in. */
  heal(id: string): Promise<void>;
  /** Makes both directions of `id`'s link slow and lossy, until restore(id). */
  degrade(id: string, degradation: Degradation): Promise<void>;
  /** Packets the degradation of `id`'s link dropped so far, both directions. */
  dropped(id: string): Promise<number>;
  restore(id: string): Promise<void>;
  /** Deletes every namespace made; rejects naming those it could not delete. */
  destroy(): Promise<void>;
}

/** Why network namespaces cannot be made here, or null when they can (a namespace made and deleted). */
export async function netnsUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'making network namespaces needs root';
  const probe = `rc-${process.pid}-probe`;
  try {
    await run('ip', ['netns', 'add', probe]);
  } catch (error) {
    return `ip netns add failed: ${(error as Error).message}`;
  }
  await run('ip', ['netns', 'del', probe]);
  return null;
}

/** Makes the hub and one namespace per id; on any failure deletes what it made and rejects. */
export async function createNetnsLab(ids: readonly string[]): Promise<NetnsLab> {
  const prefix = `rc-${process.pid}`;
  const hub = `${prefix}-hub`;
  const made: string[] = [];
  const indexOf = (id: string) => {
    const index = ids.indexOf(id);
    if (index < 0) throw new Error(`no server ${id} in this lab (${ids.join(', ')})`);
    return index;
  };
  const namespaceOf = (id: string) => `${prefix}-${ids[indexOf(id)]}`;
  const addressOf = (id: string) => `${subnet}.${hostOffset + indexOf(id)}`;
  // Interface names are at most 15 bytes; each is unique in its own namespace.
  const serverEnd = (id: string) => `veth-${id}`;
  const hubEnd = (id: string) => `hub-${id}`;
  const inHub = (...args: string[]) => run('ip', ['-n', hub, ...args]);
  const destroy = async () => {
    const failures: string[] = [];
    for (const name of made.splice(0).reverse()) {
      try {
        await run('ip', ['netns', 'del', name]);
      } catch (error) {
        failures.push(`${name}: ${(error as Error).message}`);
      }
    }
    if (failures.length > 0) throw new Error(`could not delete network namespaces: ${failures.join('; ')}`);
  };
  try {
    await run('ip', ['netns', 'add', hub]);
    made.push(hub);
    await inHub('link', 'add', 'br0', 'type', 'bridge');
    await inHub('link', 'set', 'br0', 'up');
    for (const id of ids) {
      const ns = namespaceOf(id);
      await run('ip', ['netns', 'add', ns]);
      made.push(ns);
      await run('ip', ['link', 'add', serverEnd(id), 'netns', ns, 'type', 'veth', 'peer', 'name', hubEnd(id), 'netns', hub]);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await run('ip', ['-n', ns, 'addr', 'add', `${addressOf(id)}/24`, 'dev', serverEnd(id)]);
      await run('ip', ['-n', ns, 'link', 'set', serverEnd(id), 'up']);
      await inHub('link', 'set', hubEnd(id), 'master', 'br0');
      await inHub('link', 'set', hubEnd(id), 'up');
    }
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
  // Both ends of the link: each shapes what it sends.
  const ends = (id: string) => [{ ns: hub, dev: hubEnd(id) }, { ns: namespaceOf(id), dev: serverEnd(id) }];
  return {
    namespaceOf,
    addressOf,
    cut: async (id) => void (await inHub('link', 'set', hubEnd(id), 'down')),
    heal: async (id) => void (await inHub('link', 'set', hubEnd(id), 'up')),
    degrade: async (id, degradation) => {
      for (const end of ends(id)) await degradeEnd(end.ns, end.dev, degradation);
    },
    dropped: async (id) => {
      let total = 0;
      for (const end of ends(id)) {
        const stats = await run('ip', ['netns', 'exec', end.ns, 'tc', '-s', 'class', 'show', 'dev', end.dev, 'classid', dropClass]);
        total += Number(/dropped (\d+)/.exec(stats)?.[1] ?? NaN);
      }
      return total;
    },
    restore: async (id) => {
      for (const end of ends(id)) await run('ip', ['netns', 'exec', end.ns, 'tc', 'qdisc', 'del', 'dev', end.dev, 'root']);
    },
    destroy,
  };
}

const dropClass = '1:20';

/**
 * A slow, lossy egress without netem (this kernel has none; HTB, cls_bpf and pfifo are common):
 * HTB caps the rate, and a classic-BPF filter sends a random share of packets to a class whose
 * queue holds nothing (pfifo limit 0), so they are dropped.
 */
async function degradeEnd(ns: string, dev: string, { rateKbit, lossPercent }: Degradation): Promise<void> {
  if (!(rateKbit >= 8 && lossPercent >= 0 && lossPercent < 100)) throw new Error(`a degradation needs rateKbit >= 8 and lossPercent in [0, 100), got ${rateKbit}, ${lossPercent}`);
  const tc = (...args: string[]) => run('ip', ['netns', 'exec', ns, 'tc', ...args]);
  await tc('qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10');
  await tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', `${rateKbit}kbit`, 'ceil', `${rateKbit}kbit`, 'quantum', '1514');
  await tc('class', 'add', 'dev', dev, 'parent', '1:', 'classid', dropClass, 'htb', 'rate', '8kbit', 'quantum', '1514');
  await tc('qdisc', 'add', 'dev', dev, 'parent', dropClass, 'handle', '20:', 'pfifo', 'limit', '0');
  await tc('filter', 'add', 'dev', dev, 'parent', '1:', 'protocol', 'all', 'prio', '1', 'bpf', 'bytecode', randomDropProgram(lossPercent), 'classid', dropClass);
}

/**
 * Classic BPF, as `tc … bpf bytecode` reads it (count, then "code jt jf k" each): load a random
 * u32 (the ancillary SKF_AD_RANDOM); at or above the threshold return 0 (no match: the default
 * class), below it return -1 (match: the filter's class, the one that drops).
 */
function randomDropProgram(lossPercent: number): string {
  const threshold = Math.round((lossPercent / 100) * 2 ** 32);
  const loadRandom = `32 0 0 ${0xfffff000 + 56}`; // BPF_LD|BPF_W|BPF_ABS, SKF_AD_OFF + SKF_AD_RANDOM
  const skipUnlessBelow = `53 1 0 ${threshold}`; // BPF_JMP|BPF_JGE|BPF_K: A >= threshold jumps over the next
  const match = `6 0 0 ${2 ** 32 - 1}`; // BPF_RET|BPF_K, -1
  const noMatch = '6 0 0 0';
  return `4,${loadRandom},${skipUnlessBelow},${match},${noMatch}`;
}

/** Runs a command; resolves with its stdout, rejects with its stderr (or a timeout) in the message. */
function run(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: commandMsMax }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new Error(`${file} ${args.join(' ')}: ${stderr.trim() || error.message}`));
    });
  });
}

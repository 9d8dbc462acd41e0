import type { ClusterNetwork, LocalCluster } from './local-cluster.ts';

/**
 * What the live view (`raftchart cluster`) and the inspector need of a cluster: a LocalCluster of
 * worker threads, or a ProcessCluster of `raftchart serve` processes over TCP
 * (src/net/process-cluster.ts), which refuses with InvalidOptions what a real network cannot do.
 */
export type ViewedNetwork = Pick<ClusterNetwork, 'disconnect' | 'connect' | 'partition' | 'heal' | 'setReliable' | 'stats' | 'pause' | 'resume' | 'isPaused' | 'isReliable' | 'isLinkUp' | 'tap'>;

export type ViewedCluster = Pick<
  LocalCluster,
  'nodeIds' | 'seed' | 'dataDir' | 'diskFaults' | 'status' | 'inspect' | 'crash' | 'restart' | 'failDisk' | 'propose' | 'addLearner' | 'promote' | 'removeServer'
> & { readonly network: ViewedNetwork };

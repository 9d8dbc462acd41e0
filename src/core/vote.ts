/**
 * The election restriction (§5.4.1): a voter grants only to a candidate whose log is at least as
 * up-to-date as its own — a higher last term, or the same last term and a last index at least as long.
 */
export function isLogUpToDate(
  candidateLastTerm: number,
  candidateLastIndex: number,
  voterLastTerm: number,
  voterLastIndex: number,
): boolean {
  if (candidateLastTerm !== voterLastTerm) return candidateLastTerm > voterLastTerm;
  return candidateLastIndex >= voterLastIndex;
}

/** Votes needed to win among `clusterSize` voters: a strict majority. */
export function quorumSize(clusterSize: number): number {
  return Math.floor(clusterSize / 2) + 1;
}

/**
 * The leaf state paths of an XState state value, dot-joined: 'follower', or
 * 'candidate.requestingVotes.awaitingVotes' for `{ candidate: { requestingVotes: 'awaitingVotes' } }`.
 * Several paths only for parallel states; a key with an empty object below it is a leaf; [] for
 * anything that is not a state value. Pure, so both the workers and a browser page may use it.
 */
export function statePaths(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  const paths: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const below = statePaths(child);
    if (below.length === 0) paths.push(key);
    else for (const path of below) paths.push(`${key}.${path}`);
  }
  return paths;
}

import { setTimeout as sleep } from 'node:timers/promises';
import { RaftchartError, hasErrorCode } from '../protocol/errors.ts';
import type { NodeId } from '../protocol/types.ts';
import { encodeSessionCommand, encodeSessionRegister, isSessionError } from '../host/sessions.ts';

/** What a session needs of its cluster: propose an envelope on a server and wait, and find the leader. */
export interface SessionCluster {
  readonly nodeIds: readonly NodeId[];
  proposeEnvelope(id: NodeId, envelope: Uint8Array, timeoutMs: number): Promise<{ index: number; term: number; result: unknown }>;
  /** The server that leads now, as the servers report it; null while none does. */
  findLeader(): Promise<NodeId | null>;
}

export interface SessionOptions {
  /** Resume this session (an id an earlier `session()` gave) instead of opening a new one. */
  readonly id?: number;
  /** With `id`: the sequence number the next command takes (default 1). */
  readonly nextSeq?: number;
  /** How long each call may take, retries included, before it rejects Timeout. Default 10,000 ms. */
  readonly timeoutMs?: number;
}

export interface SessionProposeOptions {
  /** The command's sequence number; default the next one. Give the number of an earlier call to learn its outcome again (exactly once). */
  readonly seq?: number;
  readonly timeoutMs?: number;
}

/** How long one attempt waits on a server before the session tries again, and the pause between tries. */
const attemptMsMax = 2000;
const retryPauseMs = 20;
const sessionTimeoutMsDefault = 10_000;

/**
 * A client session (dissertation §6.3): each command carries this session's id and a sequence
 * number, and is retried with the same number, on whichever server leads, until it is answered.
 * The servers' session table applies it once and answers a retry with the cached result, so a
 * command whose answer was lost (a leader crash, a timeout) never applies twice, and a success is
 * only ever reported for a command that was applied.
 */
export class ClusterSession {
  readonly id: number;
  readonly #cluster: SessionCluster;
  readonly #timeoutMs: number;
  #seqNext: number;
  /** Every answer at or below this arrived; the servers may forget those results. */
  #ackedThrough: number;
  readonly #answered = new Set<number>();
  /** Numbers that timed out: given up (counted as answered) once the next new command is proposed. */
  readonly #abandoned = new Set<number>();
  #leader: NodeId | null = null;

  private constructor(cluster: SessionCluster, id: number, nextSeq: number, timeoutMs: number) {
    this.#cluster = cluster;
    this.id = id;
    this.#seqNext = nextSeq;
    this.#ackedThrough = nextSeq - 1;
    this.#timeoutMs = timeoutMs;
  }

  /** Opens a session (a committed register entry; its index is the id), or resumes `options.id`. */
  static async open(cluster: SessionCluster, options: SessionOptions = {}): Promise<ClusterSession> {
    const timeoutMs = options.timeoutMs ?? sessionTimeoutMsDefault;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RaftchartError('InvalidOptions', `timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}.`);
    if (options.id !== undefined) {
      if (!Number.isSafeInteger(options.id) || options.id <= 0) throw new RaftchartError('InvalidOptions', `a session id is a positive whole number (what session() gave), got ${String(options.id)}.`);
      const nextSeq = options.nextSeq ?? 1;
      if (!Number.isSafeInteger(nextSeq) || nextSeq < 1) throw new RaftchartError('InvalidOptions', `nextSeq must be a whole number >= 1, got ${String(nextSeq)}.`);
      return new ClusterSession(cluster, options.id, nextSeq, timeoutMs);
    }
    const opening = new ClusterSession(cluster, 0, 1, timeoutMs);
    const { result } = await opening.#untilAnswered(encodeSessionRegister(), timeoutMs, 'open a session');
    return new ClusterSession(cluster, (result as { session: number }).session, 1, timeoutMs);
  }

  /**
   * Proposes `command` in this session and resolves with its result once it was applied, exactly
   * once however often it had to be retried. Rejects InvalidCommand for an unknown or expired
   * session, or a sequence number at or below what this session already confirmed; Timeout when
   * no server confirmed it in time (its outcome is then unknown: propose it again with the same
   * `seq`, before any new command, to learn it, still exactly once; once a new command is proposed
   * the session gives that number up, so the servers can forget the answers before it).
   */
  async propose(command: Uint8Array, options: SessionProposeOptions = {}): Promise<{ index: number; term: number; result: unknown; seq: number }> {
    if (options.seq === undefined) {
      for (const abandoned of this.#abandoned) this.#answered.add(abandoned);
      this.#abandoned.clear();
      this.#advanceAcked();
    }
    const seq = options.seq ?? this.#seqNext;
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RaftchartError('InvalidOptions', `seq must be a whole number >= 1, got ${String(seq)}.`);
    this.#seqNext = Math.max(this.#seqNext, seq + 1);
    if (!(command instanceof Uint8Array)) throw new RaftchartError('InvalidCommand', 'a command must be a Uint8Array: encode it first, e.g. new TextEncoder().encode(text).');
    // A retry says what the first send said: every answer through at most seq - 1 arrived.
    const envelope = encodeSessionCommand(this.id, seq, Math.min(this.#ackedThrough, seq - 1), command);
    let answer: { index: number; term: number; result: unknown };
    try {
      answer = await this.#untilAnswered(envelope, options.timeoutMs ?? this.#timeoutMs, `command ${seq} of session ${this.id}`);
    } catch (error) {
      if (hasErrorCode(error, 'Timeout')) this.#abandoned.add(seq);
      throw error;
    }
    this.#abandoned.delete(seq);
    if (isSessionError(answer.result)) throw new RaftchartError('InvalidCommand', answer.result.message, { session: this.id, seq, reason: answer.result.sessionError });
    this.#answered.add(seq);
    this.#advanceAcked();
    return { ...answer, seq };
  }

  #advanceAcked(): void {
    while (this.#answered.has(this.#ackedThrough + 1)) this.#answered.delete(++this.#ackedThrough);
  }

  /** Proposes `envelope` on the leader until one applies it: NotLeader and Timeout are retried with the same bytes. */
  async #untilAnswered(envelope: Uint8Array, timeoutMs: number, what: string): Promise<{ index: number; term: number; result: unknown }> {
    const deadline = performance.now() + timeoutMs;
    let lastError: unknown = null;
    while (performance.now() < deadline) {
      const leader = this.#leader ?? (await this.#cluster.findLeader());
      if (leader === null) {
        await sleep(retryPauseMs);
        continue;
      }
      try {
        const left = Math.max(1, Math.min(attemptMsMax, deadline - performance.now()));
        const answer = await this.#cluster.proposeEnvelope(leader, envelope, left);
        this.#leader = leader;
        return answer;
      } catch (error) {
        if (!hasErrorCode(error, 'NotLeader') && !hasErrorCode(error, 'Timeout')) throw error;
        lastError = error;
        const named = (error as { details?: { leaderId?: NodeId | null } }).details?.leaderId ?? null;
        this.#leader = named !== null && named !== leader ? named : null;
        await sleep(retryPauseMs);
      }
    }
    throw new RaftchartError(
      'Timeout',
      `${what} was not confirmed within ${timeoutMs} ms (last: ${lastError instanceof Error ? lastError.message : 'no leader found'}); it may or may not have been applied: propose it again in this session with the same seq to learn which, exactly once.`,
      { session: this.id },
    );
  }
}

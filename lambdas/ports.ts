// The seams between the pipeline (lambdas/core) and the outside world.
// Only what the pipeline uses is here; core/ must never import an SDK, only these types.

/** A value bound to a named `:param`. Wrap JSON and UUIDs so adapters can send the right type hint. */
export type SqlParam = string | number | boolean | null | Date | { readonly json: unknown } | { readonly uuid: string };

export const sqlJson = (value: unknown): { readonly json: unknown } => ({ json: value });
export const sqlUuid = (value: string): { readonly uuid: string } => ({ uuid: value });

export type SqlParams = Readonly<Record<string, SqlParam>>;

/**
 * A row as plain JS values. Every adapter returns the same shapes:
 * text/uuid → string, int4/float → number, int8/numeric → string, bool → boolean,
 * json/jsonb → parsed value, timestamptz/timestamp → ISO-8601 string in UTC with a `Z`
 * (e.g. "2026-01-02T03:04:05.678Z"), date → "YYYY-MM-DD", null → null.
 */
export type SqlRow = Record<string, unknown>;

export interface SqlResult<Row extends SqlRow = SqlRow> {
  readonly rows: Row[];
  /** Rows inserted/updated/deleted, or returned by a SELECT. */
  readonly rowCount: number;
}

export interface SqlExecutor {
  /**
   * Runs one statement. Parameters are named `:name` in the SQL text (never inside string
   * literals, comments or after `::` casts). Missing parameters are an error.
   */
  query<Row extends SqlRow = SqlRow>(sql: string, params?: SqlParams): Promise<SqlResult<Row>>;
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Pick<SqlExecutor, 'query'>) => Promise<T>): Promise<T>;
  /**
   * The largest serialized parameter payload (bytes of UTF-8 JSON) one statement may carry.
   * Callers split batches to stay under it (the RDS Data API caps a request at a few MB).
   */
  readonly maxStatementBytes: number;
  close(): Promise<void>;
}

/** One entry of the stream. `data` is the entry's `data` field, or null when the entry has none. */
export interface StreamEntry {
  readonly id: string;
  readonly data: string | null;
}

export interface PendingEntry {
  readonly id: string;
  readonly consumer: string;
  /** Milliseconds since the entry was last delivered. */
  readonly idleMs: number;
  /** How many times the entry has been delivered (1 after the first read). */
  readonly deliveries: number;
}

export interface StreamStats {
  /** XLEN: entries still in the stream (acknowledged ones included until trimmed). */
  readonly length: number;
  /** Entries never delivered to the group (XINFO GROUPS `lag`; null when Redis cannot tell). */
  readonly lag: number | null;
  /** Entries delivered and not yet acknowledged. */
  readonly pending: number;
  /** Id of the oldest unacknowledged entry, or null. */
  readonly oldestPendingId: string | null;
  /** The group's last-delivered-id ("0-0" before the first read). */
  readonly lastDeliveredId: string;
  /** Consumers the group knows. */
  readonly consumers: number;
}

/** One consumer of the group (XINFO CONSUMERS). */
export interface ConsumerInfo {
  readonly name: string;
  /** Entries delivered to it and not yet acknowledged. */
  readonly pending: number;
  /** Milliseconds since it last read or claimed. */
  readonly idleMs: number;
}

/**
 * A Redis stream with one consumer group. Stream key and group are fixed when the adapter is built.
 * Deliberately absent: blocking reads on adapters that cannot block (Upstash REST: `blockMs` is
 * accepted and ignored, the read returns at once), XAUTOCLAIM (retries need the per-entry delivery
 * count, so the pipeline uses XPENDING + XCLAIM), MAXLEN trimming on add (it can drop unread entries).
 */
export interface EventStream {
  /** XGROUP CREATE <key> <group> 0 MKSTREAM, ignoring BUSYGROUP. */
  ensureGroup(): Promise<void>;
  /** XADD <key> * data <data> for each item, in one round trip. Returns the new ids in order. */
  add(data: readonly string[]): Promise<string[]>;
  /**
   * XREADGROUP GROUP <group> <consumer> COUNT <count> [BLOCK <blockMs>] STREAMS <key> >. With `ack`,
   * XACK <ack…> first, in the same round trip (the drain acknowledges one batch with its next read);
   * when the call throws, the caller cannot tell whether the XACK ran and sends it again (idempotent).
   */
  readNew(consumer: string, options: { count: number; blockMs?: number; ack?: readonly string[] }): Promise<StreamEntry[]>;
  /** XPENDING <key> <group> IDLE <minIdleMs> - + <count> [consumer] */
  pending(options: { minIdleMs: number; count: number; consumer?: string }): Promise<PendingEntry[]>;
  /**
   * XCLAIM <key> <group> <consumer> <minIdleMs> <ids…>. Entries another consumer claimed in the
   * meantime (idle below minIdleMs) are not returned. Entries that no longer exist are returned with
   * `data: null`… only where Redis reports them; callers must not rely on seeing deleted ids.
   */
  claim(consumer: string, ids: readonly string[], minIdleMs: number): Promise<StreamEntry[]>;
  /**
   * Sets pending entries' delivery counts (XCLAIM … RETRYCOUNT n JUSTID) and makes them due now: a
   * delivery that met an outage is handed back without costing the event an attempt.
   */
  restoreDeliveries(consumer: string, entries: ReadonlyArray<{ id: string; deliveries: number }>): Promise<void>;
  /**
   * True for the first caller in each `intervalMs` across every consumer (SET NX PX beside the stream):
   * fleet-wide chores such as the idle reconcile run once per interval, not once per container.
   */
  takeTurn(name: string, intervalMs: number): Promise<boolean>;
  /** XACK; returns how many were acknowledged. */
  ack(ids: readonly string[]): Promise<number>;
  /** XTRIM <key> MINID ~ <id>: drops entries older than id. Returns entries removed. */
  trimBefore(id: string): Promise<number>;
  /** StreamGroupMissingError when the stream or the group does not exist (yet, or any more). */
  /**
   * Backlog figures. When Redis cannot tell the lag, it is counted up to `lagCountLimit` (default
   * LAG_COUNT_LIMIT): a caller comparing the lag with a higher limit asks for that limit.
   */
  stats(options?: { lagCountLimit?: number }): Promise<StreamStats>;
  /** XLEN: 0 when the stream does not exist. Answers whether or not the group exists. */
  length(): Promise<number>;
  /** XINFO CONSUMERS; StreamGroupMissingError when the stream or the group does not exist. */
  consumers(): Promise<ConsumerInfo[]>;
  /**
   * XGROUP DELCONSUMER for consumers idle longer than idleMs with nothing pending (crashed processes,
   * retired Lambda containers), except `keep`. Returns how many were removed. A live consumer that
   * was removed is simply re-created by its next read.
   */
  pruneConsumers(options: { idleMs: number; keep: string }): Promise<number>;
  /** Remembers the last error of entries that will be retried (a hash beside the stream). */
  noteErrors(errors: ReadonlyArray<{ id: string; error: ErrorRecord }>): Promise<void>;
  /** Reads notes written by noteErrors; ids without a note are absent from the map. */
  readErrors(ids: readonly string[]): Promise<Map<string, ErrorRecord>>;
  /** Deletes notes (after the entries reach an outcome). */
  forgetErrors(ids: readonly string[]): Promise<void>;
  /** Round-trip check for /health. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface ErrorRecord {
  readonly type: string;
  readonly message: string;
}

/** A message for the SQS dead-letter queue. */
export interface DeadLetter {
  readonly eventId: string;
  readonly payload: unknown;
  readonly errorType: string;
  readonly errorMessage: string;
  readonly attempts: number;
  readonly failedAt: string;
}

export interface DeadLetterQueue {
  /** Sends in batches of at most 10 (SQS SendMessageBatch). Throws if any message was not sent. */
  send(letters: readonly DeadLetter[]): Promise<void>;
}

/** A message received from the ingest fallback queue. */
export interface FallbackMessage {
  readonly receiptHandle: string;
  readonly body: string;
}

/** The SQS queue ingest writes to when Postgres is unreachable; the consumer drains it. */
export interface IngestFallbackQueue {
  send(bodies: readonly string[]): Promise<void>;
  receive(options: { max: number; waitSeconds?: number }): Promise<FallbackMessage[]>;
  delete(receiptHandles: readonly string[]): Promise<void>;
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Structured logger; Powertools Logger satisfies it. */
export interface Logger {
  debug(message: string, extra?: Record<string, unknown>): void;
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

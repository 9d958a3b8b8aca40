// The error_type values the consumer writes to failed_events besides exception names: the one list,
// read by the dead-letter writer, redrive (which never replays unparsable entries) and the alarms.

/** An event that broke a business rule (the producer's data; never retried). */
export const RULE_VIOLATION = 'RuleViolation';
/** Attempts ran out and no earlier error was noted. */
export const RETRIES_EXHAUSTED = 'RetriesExhausted';
/** A stream entry that is not an event at all (never replayed: there is no event). */
export const UNPARSABLE_ENTRY = 'UnparsableEntry';

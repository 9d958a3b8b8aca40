-- EventFlow schema v1. Applied in order by `npm run migrate` / the deploy-time migration Lambda.
-- Statements are separated by semicolons at the end of a line (the Data API runs one at a time).

-- Audit trail and outcome arbiter: one row per accepted event_id.
-- `outcome` is set exactly once by the consumer (NULL → processed | failed), under the row lock,
-- which is what makes "exactly one outcome per event" hold between racing consumers.
CREATE TABLE IF NOT EXISTS raw_events (
  event_id        uuid PRIMARY KEY,
  payload         jsonb NOT NULL,
  received_at     timestamptz NOT NULL DEFAULT now(),
  outcome         text CHECK (outcome IN ('processed', 'failed')),
  outcome_at      timestamptz,
  republished_at  timestamptz
);

-- The reconciler's search: accepted events that have no outcome yet.
CREATE INDEX IF NOT EXISTS raw_events_unresolved_idx
  ON raw_events (received_at) WHERE outcome IS NULL;

CREATE TABLE IF NOT EXISTS processed_events (
  event_id       uuid PRIMARY KEY,
  event_type     text NOT NULL,
  user_id        text,
  occurred_at    timestamptz NOT NULL,
  properties     jsonb NOT NULL,
  enriched_data  jsonb NOT NULL,
  processed_at   timestamptz NOT NULL DEFAULT now(),
  attempts       integer NOT NULL
);

CREATE INDEX IF NOT EXISTS processed_events_type_time_idx ON processed_events (event_type, processed_at);
CREATE INDEX IF NOT EXISTS processed_events_user_idx ON processed_events (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS processed_events_time_idx ON processed_events (processed_at);

-- Dead letters. One row per event_id; a failed redrive updates it, a successful one deletes it.
CREATE TABLE IF NOT EXISTS failed_events (
  event_id       uuid PRIMARY KEY,
  payload        jsonb NOT NULL,
  error_type     text NOT NULL,
  error_message  text NOT NULL,
  attempts       integer NOT NULL,
  failed_at      timestamptz NOT NULL DEFAULT now(),
  replayed_at    timestamptz,
  replay_count   integer NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS failed_events_type_time_idx ON failed_events (error_type, failed_at);

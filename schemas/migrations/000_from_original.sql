-- Upgrades, in place, a database created by the original Python service's init_db.sql into the shape
-- 001_initial creates, keeping every row. It runs (before 001) only when the original's tables are
-- there (raw_events with its surrogate `id`); on any other database it is skipped and not recorded.
-- eventflow:apply-if EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'raw_events' AND column_name = 'id')

-- The original wrote naive timestamps in UTC: read them as UTC whatever the server's zone is.
SET LOCAL TimeZone = 'UTC';

-- Every failure row the original wrote (one per failed attempt), exactly as it was: failed_events
-- keeps one row per event from here on, this table keeps the history.
CREATE TABLE original_failed_events AS TABLE failed_events;

-- One primary key per table, on event_id (the original's `id` surrogates stay, no longer the key).
DO $$
DECLARE
  t text;
  c record;
BEGIN
  FOREACH t IN ARRAY ARRAY['raw_events', 'processed_events', 'failed_events'] LOOP
    FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = t::regclass AND contype IN ('p', 'u') LOOP
      EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, c.conname);
    END LOOP;
    EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT gen_random_uuid()', t);
  END LOOP;
END $$;

-- raw_events: zone-aware time, and the outcome columns (set below from the other two tables).
ALTER TABLE raw_events
  ALTER COLUMN received_at TYPE timestamptz USING received_at AT TIME ZONE 'UTC',
  ADD COLUMN outcome text CHECK (outcome IN ('processed', 'failed')),
  ADD COLUMN outcome_at timestamptz,
  ADD COLUMN republished_at timestamptz,
  ADD PRIMARY KEY (event_id);

-- processed_events: our column names, zone-aware times, attempts counted from 1 (retry_count + 1).
ALTER TABLE processed_events RENAME COLUMN "timestamp" TO occurred_at;
ALTER TABLE processed_events RENAME COLUMN retry_count TO attempts;
ALTER TABLE processed_events
  ALTER COLUMN occurred_at TYPE timestamptz USING occurred_at AT TIME ZONE 'UTC',
  ALTER COLUMN processed_at TYPE timestamptz USING processed_at AT TIME ZONE 'UTC',
  ALTER COLUMN event_type TYPE text,
  ALTER COLUMN user_id TYPE text,
  ALTER COLUMN attempts DROP DEFAULT,
  ALTER COLUMN status SET DEFAULT 'completed';
UPDATE processed_events
  SET attempts = COALESCE(attempts, 0) + 1,
      properties = COALESCE(properties, '{}'::jsonb),
      enriched_data = COALESCE(enriched_data, '{}'::jsonb);
ALTER TABLE processed_events
  ALTER COLUMN attempts SET NOT NULL,
  ALTER COLUMN properties SET NOT NULL,
  ALTER COLUMN enriched_data SET NOT NULL,
  ADD PRIMARY KEY (event_id);

-- Outcomes: processed wins (the original could process an event after failure rows for it).
UPDATE raw_events r SET outcome = 'processed', outcome_at = p.processed_at
  FROM processed_events p WHERE p.event_id = r.event_id;
UPDATE raw_events r SET outcome = 'failed', outcome_at = f.failed_at AT TIME ZONE 'UTC'
  FROM (SELECT event_id, max(failed_at) AS failed_at FROM failed_events GROUP BY event_id) f
  WHERE f.event_id = r.event_id AND r.outcome IS NULL;

-- failed_events: the dead letter of events that ended failed, one row each (its latest failure).
DELETE FROM failed_events f USING processed_events p WHERE p.event_id = f.event_id;
DELETE FROM failed_events f
  WHERE EXISTS (SELECT 1 FROM failed_events g WHERE g.event_id = f.event_id AND (g.failed_at, g.id) > (f.failed_at, f.id));
ALTER TABLE failed_events RENAME COLUMN retry_count TO attempts;
ALTER TABLE failed_events
  ALTER COLUMN failed_at TYPE timestamptz USING failed_at AT TIME ZONE 'UTC',
  ALTER COLUMN attempts DROP DEFAULT,
  ADD COLUMN error_type text NOT NULL DEFAULT 'OriginalServiceFailure',
  ADD COLUMN replayed_at timestamptz,
  ADD COLUMN replay_count integer NOT NULL DEFAULT 0;
UPDATE failed_events SET attempts = COALESCE(attempts, 0) + 1, error_message = COALESCE(error_message, '');
ALTER TABLE failed_events
  ALTER COLUMN error_type DROP DEFAULT,
  ALTER COLUMN attempts SET NOT NULL,
  ALTER COLUMN error_message SET NOT NULL,
  ADD PRIMARY KEY (event_id);

-- Payloads in the accepted-event shape the consumer, reconciler and redrive read: explicit event_id,
-- user_id and properties, timestamp and received_at as UTC ISO strings with Z. Other keys are kept.
CREATE FUNCTION pg_temp.eventflow_iso(ts timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
  AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
CREATE FUNCTION pg_temp.eventflow_payload(payload jsonb, event_id uuid, received_at timestamptz) RETURNS jsonb
  LANGUAGE sql STABLE AS $$
  SELECT payload || jsonb_build_object(
    'event_id', event_id::text,
    'user_id', COALESCE(payload->'user_id', 'null'::jsonb),
    'properties', CASE WHEN jsonb_typeof(payload->'properties') = 'object' THEN payload->'properties' ELSE '{}'::jsonb END,
    'timestamp', pg_temp.eventflow_iso(CASE
      WHEN jsonb_typeof(payload->'timestamp') = 'number' THEN to_timestamp((payload->>'timestamp')::float8)
      WHEN payload->>'timestamp' ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$'
        THEN (payload->>'timestamp')::timestamptz
      ELSE received_at END),
    'received_at', pg_temp.eventflow_iso(received_at))
$$;
UPDATE raw_events SET payload = pg_temp.eventflow_payload(payload, event_id, received_at)
  WHERE jsonb_typeof(payload) = 'object' AND payload ? 'event_type';
UPDATE failed_events f
  SET payload = pg_temp.eventflow_payload(
    f.payload, f.event_id, COALESCE((SELECT r.received_at FROM raw_events r WHERE r.event_id = f.event_id), f.failed_at))
  WHERE jsonb_typeof(f.payload) = 'object' AND f.payload ? 'event_type';
DROP FUNCTION pg_temp.eventflow_payload(jsonb, uuid, timestamptz);
DROP FUNCTION pg_temp.eventflow_iso(timestamptz);

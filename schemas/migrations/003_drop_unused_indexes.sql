-- Drops secondary indexes that no statement EventFlow runs can use (every processed_events lookup goes
-- by event_id, the primary key; lambdas/core/store.ts). Each one cost every drain batch an index write
-- per row: about a quarter of the outcome statement (docs/PERFORMANCE.md). Analytics that filter
-- processed_events by type, user or time should add the index they need (CREATE INDEX CONCURRENTLY).

-- 001_initial's: nothing reads processed_events except by event_id.
DROP INDEX IF EXISTS processed_events_type_time_idx;
DROP INDEX IF EXISTS processed_events_user_idx;
DROP INDEX IF EXISTS processed_events_time_idx;

-- A database upgraded from the original service (000_from_original) kept the original's indexes:
-- the event_id ones duplicate the primary keys, the others serve no query of ours. failed_at on
-- failed_events stays (redrive lists dead letters oldest first).
DROP INDEX IF EXISTS idx_processed_events_event_id;
DROP INDEX IF EXISTS idx_processed_events_event_type;
DROP INDEX IF EXISTS idx_processed_events_user_id;
DROP INDEX IF EXISTS idx_processed_events_status;
DROP INDEX IF EXISTS idx_processed_events_processed_at;
DROP INDEX IF EXISTS idx_raw_events_event_id;
DROP INDEX IF EXISTS idx_raw_events_received_at;
DROP INDEX IF EXISTS idx_failed_events_event_id;

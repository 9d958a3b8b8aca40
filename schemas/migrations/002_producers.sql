-- Per-producer API keys: which producer sent each raw event (API Gateway's API key id, or locally the
-- PRODUCER_KEYS name of its x-api-key). GET /events/{id} answers a producer only for its own events.
-- Nullable, no default: adding it is a catalog change (no table rewrite, no long lock on a big table),
-- and NULL keeps its meaning for every row written before: no known producer, readable by any key.
ALTER TABLE raw_events ADD COLUMN IF NOT EXISTS producer text;

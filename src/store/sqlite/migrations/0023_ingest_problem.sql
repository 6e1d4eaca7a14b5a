-- Why the last encoder was turned away for what it sent (issue 17): a codec
-- Pavilion does not take, e.g. HEVC or AV1 over Enhanced RTMP. Stored as
-- `video:<codec name>` / `audio:<codec name>` with the time it happened, so
-- that staff see it in the console on any node and after a reload; cleared
-- when an encoder next publishes H.264.
ALTER TABLE broadcasts ADD COLUMN ingest_problem TEXT;
ALTER TABLE broadcasts ADD COLUMN ingest_problem_at TEXT;

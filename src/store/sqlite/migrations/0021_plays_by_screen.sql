-- Proof of play is accepted only with its screen's plays at least a second
-- apart (see `record_plays`): the check looks up a screen's plays by start.
CREATE INDEX notice_plays_by_screen ON notice_plays (screen_id, started_at);

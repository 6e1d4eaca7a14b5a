-- What a screen's playlist reads after every change: a community's
-- published notices whose validity has not ended. Over the years almost
-- every notice has ended, so the search goes by end time and never walks
-- the history (see `current_notices` in sqlite_signage.rs).
CREATE INDEX notices_current ON notices (community_id, state, ends_at);

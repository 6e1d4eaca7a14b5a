-- Queue filters that combine an estate with a category or class, newest first.
CREATE INDEX records_by_estate_category ON records(estate_id, category, id);
CREATE INDEX records_by_estate_class ON records(estate_id, class, id);
-- One estate's records newest first (the estate's queue).
CREATE INDEX records_by_estate_newest ON records(estate_id, id);

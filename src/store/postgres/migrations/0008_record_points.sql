-- Where a record was reported, when its filer gave coordinates (see SQLite's
-- 0027_record_points.sql). Both or neither.
ALTER TABLE records
    ADD COLUMN lat_e6 BIGINT,
    ADD COLUMN lon_e6 BIGINT,
    ADD CONSTRAINT records_point_whole CHECK ((lat_e6 IS NULL) = (lon_e6 IS NULL));

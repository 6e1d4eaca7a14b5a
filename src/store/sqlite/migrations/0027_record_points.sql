-- Where a record was reported, when its filer gave coordinates (Open311
-- clients send the point the resident tapped): WGS84 in millionths of a
-- degree, as estate_geography holds them. Both or neither.
ALTER TABLE records ADD COLUMN lat_e6 INTEGER;
ALTER TABLE records ADD COLUMN lon_e6 INTEGER
    CHECK ((lat_e6 IS NULL) = (lon_e6 IS NULL));

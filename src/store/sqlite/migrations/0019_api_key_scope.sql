-- An Open311 key belongs to the community of the admin who issued it (NULL:
-- issued by an admin of the whole installation, files into any community).
-- A community's admin sees and revokes only its own keys, and its keys file
-- records only into its own estates.
ALTER TABLE api_keys ADD COLUMN community_id INTEGER REFERENCES communities(id);

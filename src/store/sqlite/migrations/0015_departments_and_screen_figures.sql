-- Departments can be renamed and retired (never deleted: escalation events
-- name them). A retired department is no longer offered as a target.
ALTER TABLE departments ADD COLUMN retired_at TEXT;

-- Whether the community's lobby screens show the computed 阳光公示 figures
-- of their estate. No row means yes (the default).
CREATE TABLE screen_figures_settings (
    community_id  INTEGER PRIMARY KEY REFERENCES communities(id),
    shown         INTEGER NOT NULL CHECK (shown IN (0, 1)),
    updated_at    TEXT NOT NULL
);

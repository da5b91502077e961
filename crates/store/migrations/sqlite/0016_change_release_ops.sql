-- Change control, second increment (issue 7): the go/no-go decision of a release with the alert maintenance window
-- it opens, the CHG-07 post-release verification checklist assigned to branches in rotation (the rotation cursor is
-- durable), and the outcome 'unknown' of a data-operation execution found running after a crash.
ALTER TABLE releases ADD COLUMN decision_by TEXT;
ALTER TABLE releases ADD COLUMN decision_at INTEGER;
ALTER TABLE releases ADD COLUMN decision_note TEXT NOT NULL DEFAULT '';
ALTER TABLE releases ADD COLUMN maintenance_id INTEGER;
ALTER TABLE releases ADD COLUMN announcement_key TEXT;

-- One scenario to verify in production after an upgrade, by one branch (CHG-07).
CREATE TABLE release_verifications (
    id          INTEGER PRIMARY KEY,
    release_id  INTEGER  NOT NULL REFERENCES releases(id),
    scenario    TEXT    NOT NULL,
    name_zh     TEXT    NOT NULL,
    name_en     TEXT    NOT NULL,
    branch      TEXT    NOT NULL,
    due_at      INTEGER  NOT NULL,
    result      TEXT,
    note        TEXT    NOT NULL DEFAULT '',
    recorded_by TEXT,
    recorded_at INTEGER,
    UNIQUE (release_id, scenario)
);
CREATE INDEX release_verifications_open ON release_verifications (release_id, result);

-- Durable rotation cursors (CHG-07 branches): the index of the next branch to take.
CREATE TABLE change_rotation (
    key        TEXT    PRIMARY KEY,
    next_index INTEGER  NOT NULL,
    updated_at INTEGER  NOT NULL
);

-- Alert intake (issue 5): the dedup key is no longer indexed in SQLite. Every new alert landed on a random leaf of
-- the UNIQUE index on `dedup_key`, which cost a B-tree probe before the insert, another one in it, and one more
-- 4 KiB page per alert in every group commit's WAL; intake slowed as the table grew. The single writer keeps the
-- key → id directory in memory instead (`crate::alert_keys`), and ids come from AUTOINCREMENT so that an id is
-- never used twice, which the directory relies on to learn the rows another process inserted
-- (bench/RESULTS.md, session 20). PostgreSQL keeps its unique index.
--
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt the way SQLite documents it (a new table, the rows
-- copied, the old one dropped, the new one renamed); the store runs SQLite migrations with foreign keys off and
-- checks them afterwards (`Store::migrate`), so `alert_events`, which refers to `alerts` by name, is untouched.
CREATE TABLE alerts_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    system          TEXT    NOT NULL DEFAULT '',
    region          TEXT    NOT NULL DEFAULT '',
    severity        TEXT    NOT NULL DEFAULT '',
    alertname       TEXT    NOT NULL DEFAULT '',
    summary         TEXT    NOT NULL DEFAULT '',
    labels          TEXT    NOT NULL,
    annotations     TEXT    NOT NULL,
    group_key       TEXT    NOT NULL,
    starts_at       INTEGER NOT NULL,
    ends_at         INTEGER,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    event_count     INTEGER NOT NULL DEFAULT 1,
    fire_count      INTEGER NOT NULL DEFAULT 1,
    flapping        INTEGER NOT NULL DEFAULT 0,
    suppressed      TEXT,
    routes          TEXT    NOT NULL DEFAULT '[]',
    notified_at     INTEGER,
    incident_id     INTEGER,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    resolved_by     TEXT,
    resolved_at     INTEGER,
    version         INTEGER NOT NULL DEFAULT 1,
    updated_at      INTEGER NOT NULL
);
INSERT INTO alerts_rebuilt SELECT id, dedup_key, source, state, system, region, severity, alertname, summary, labels,
    annotations, group_key, starts_at, ends_at, first_seen, last_seen, event_count, fire_count, flapping, suppressed,
    routes, notified_at, incident_id, acknowledged_by, acknowledged_at, resolved_by, resolved_at, version, updated_at
    FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_rebuilt RENAME TO alerts;
CREATE INDEX alerts_state_seen ON alerts (state, last_seen);
CREATE INDEX alerts_system ON alerts (system, state);
CREATE INDEX alerts_group_notified ON alerts (group_key, first_seen) WHERE notified_at IS NOT NULL;

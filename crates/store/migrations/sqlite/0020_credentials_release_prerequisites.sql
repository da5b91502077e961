-- Encryption at rest of stored credentials (issue 7): data-operation target passwords (dataop_targets.secret)
-- and monitored-database passwords (mon_databases.password). SQL cannot encrypt, so this migration converts
-- nothing: at start-up the server encrypts the remaining plain-text values in place, once (an encrypted value
-- starts with its format version, `v1:`).
--
-- The key never lives in the database (it is a key file outside it). What is kept here is, per key version, a
-- known text encrypted under that key: a start with a wrong key file, or with a new key where the database
-- already holds values encrypted under another, is refused before anything is read or written with it.
CREATE TABLE credential_keys (
    version     BIGINT PRIMARY KEY,
    check_value TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);

-- CHG-05 / CHG-12: what the pack's [[releases.prerequisite]] requires on a release before its go decision, as
-- recorded: a vendor deliverable with its reference (document number or link), or the vendor training with when it
-- was held. One record per release and key; recording again before the decision replaces it.
CREATE TABLE release_prerequisites (
    id          INTEGER PRIMARY KEY,
    release_id  INTEGER NOT NULL REFERENCES releases(id),
    key         TEXT    NOT NULL,
    reference   TEXT    NOT NULL,
    held_at     INTEGER,
    note        TEXT    NOT NULL DEFAULT '',
    recorded_by TEXT    NOT NULL,
    recorded_at INTEGER  NOT NULL,
    UNIQUE (release_id, key)
);

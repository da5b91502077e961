-- Reconciliation (issue 6; REC-01..REC-08): stored runs with their inputs' fingerprints and counts, a sample of
-- their differences, the scheduled days of each policy job (REC-08 upload watch) and the work items a difference
-- batch opens (REC-07: reply within 2, fix within 10 working days). Instants are Unix microseconds UTC.

-- One run of the engine: who or what started it, its inputs (path, size, sha256), the counts and where the full
-- details file is. status: running → succeeded | failed.
CREATE TABLE recon_runs (
    id                   BIGSERIAL PRIMARY KEY,
    -- the pack's [[schedule]] key, or '' for an ad-hoc run
    job_key              TEXT    NOT NULL DEFAULT '',
    mode                 TEXT    NOT NULL,
    -- schedule, api, cli, demo
    trigger              TEXT    NOT NULL,
    started_by           TEXT    NOT NULL,
    status               TEXT    NOT NULL DEFAULT 'running',
    -- the reconciliation day (YYYY-MM-DD) of a scheduled run
    as_of                TEXT,
    key_columns          TEXT    NOT NULL DEFAULT '[]',
    left_path            TEXT    NOT NULL,
    left_size            BIGINT  NOT NULL,
    left_sha256          TEXT    NOT NULL,
    right_path           TEXT    NOT NULL,
    right_size           BIGINT  NOT NULL,
    right_sha256         TEXT    NOT NULL,
    rows_left            BIGINT,
    rows_right           BIGINT,
    only_left            BIGINT,
    only_right           BIGINT,
    changed              BIGINT,
    identical            BIGINT,
    duplicate_keys_left  BIGINT,
    duplicate_keys_right BIGINT,
    rejected_left        BIGINT,
    rejected_right       BIGINT,
    -- JSON object column → count
    per_column           TEXT    NOT NULL DEFAULT '{}',
    consistency          DOUBLE PRECISION,
    -- incremental runs: keys compared (changed since the previous run)
    incremental_keys     BIGINT,
    error                TEXT,
    details_path         TEXT,
    differences          BIGINT  NOT NULL DEFAULT 0,
    started_at           BIGINT  NOT NULL,
    finished_at          BIGINT
);
CREATE INDEX recon_runs_job ON recon_runs (job_key, started_at);

-- The first differences of a run ([engine].sample_size), in the engine's order.
CREATE TABLE recon_differences (
    run_id  BIGINT  NOT NULL REFERENCES recon_runs(id) ON DELETE CASCADE,
    seq     BIGINT  NOT NULL,
    kind    TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    col     TEXT,
    left_value  TEXT,
    right_value TEXT,
    PRIMARY KEY (run_id, seq)
);

-- A scheduled job's day (REC-01..REC-07): claimed once by one instance; REC-08 upload watch.
-- state: waiting → running → done; upload: on_time, late, missing.
CREATE TABLE recon_days (
    job_key    TEXT    NOT NULL,
    day        TEXT    NOT NULL,
    state      TEXT    NOT NULL DEFAULT 'waiting',
    upload     TEXT,
    alerted    BIGINT  NOT NULL DEFAULT 0,
    run_id     BIGINT,
    lease_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    PRIMARY KEY (job_key, day)
);

-- A difference batch to answer and fix (REC-07). state: open → replied → fixed → closed.
CREATE TABLE recon_items (
    id          BIGSERIAL PRIMARY KEY,
    run_id      BIGINT  NOT NULL UNIQUE REFERENCES recon_runs(id),
    job_key     TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'open',
    differences BIGINT  NOT NULL,
    reply_due   BIGINT  NOT NULL,
    fix_due     BIGINT  NOT NULL,
    replied_by  TEXT,
    replied_at  BIGINT,
    reply       TEXT,
    fixed_by    TEXT,
    fixed_at    BIGINT,
    fix_note    TEXT,
    closed_by   TEXT,
    closed_at   BIGINT,
    version     BIGINT  NOT NULL DEFAULT 1,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
CREATE INDEX recon_items_state ON recon_items (state, id);

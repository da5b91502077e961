-- Monitoring (issue 5; MON-02, MON-03, MON-05, MON-09): dial-test probes and their runs, registered external
-- databases, SQL monitoring points and their runs, the daily sign-in. Instants are Unix microseconds UTC.

-- A dial-test probe: a multi-step HTTP scenario (JSON), its secret variables (JSON object, never returned by
-- the API), its schedule (next_run_at, claimed by a conditional update) and its alarm streak.
CREATE TABLE probes (
    id                   BIGSERIAL PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    system               TEXT    NOT NULL DEFAULT '',
    region               TEXT    NOT NULL DEFAULT '',
    severity             TEXT    NOT NULL,
    scenario             TEXT    NOT NULL,
    secrets              TEXT    NOT NULL DEFAULT '{}',
    enabled              BIGINT  NOT NULL DEFAULT 1,
    next_run_at          BIGINT  NOT NULL,
    consecutive_failures BIGINT  NOT NULL DEFAULT 0,
    alerting             BIGINT  NOT NULL DEFAULT 0,
    last_run_at          BIGINT,
    last_ok              BIGINT,
    created_by           TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    version              BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX probes_due ON probes (enabled, next_run_at);

-- One run of a probe: availability (ok), total latency and the per-step results (JSON list).
CREATE TABLE probe_runs (
    id          BIGSERIAL PRIMARY KEY,
    probe_id    BIGINT  NOT NULL REFERENCES probes(id) ON DELETE CASCADE,
    started_at  BIGINT  NOT NULL,
    ok          BIGINT  NOT NULL,
    total_ms    BIGINT  NOT NULL,
    failed_step BIGINT,
    error       TEXT,
    steps       TEXT    NOT NULL
);
CREATE INDEX probe_runs_probe ON probe_runs (probe_id, started_at);

-- An external database monitoring points read (PostgreSQL or MySQL/MariaDB). The password column is read only
-- to connect; it is never returned by the API or written to logs or the audit trail.
CREATE TABLE mon_databases (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL,
    host       TEXT    NOT NULL,
    port       BIGINT  NOT NULL,
    database   TEXT    NOT NULL,
    username   TEXT    NOT NULL,
    password   TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL,
    version    BIGINT  NOT NULL DEFAULT 1
);

-- A business-monitoring point: a read-only query, its breach condition, owner and runbook, and its state
-- (ok / breached / unknown; unknown_since starts the grace before an unreachable database alarms).
CREATE TABLE mon_points (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    owner         TEXT    NOT NULL,
    runbook_url   TEXT    NOT NULL DEFAULT '',
    database_id   BIGINT  NOT NULL REFERENCES mon_databases(id),
    query         TEXT    NOT NULL,
    comparison    TEXT    NOT NULL,
    threshold     DOUBLE PRECISION NOT NULL DEFAULT 0,
    stale_after_s BIGINT  NOT NULL DEFAULT 0,
    interval_s    BIGINT  NOT NULL,
    system        TEXT    NOT NULL DEFAULT '',
    region        TEXT    NOT NULL DEFAULT '',
    severity      TEXT    NOT NULL,
    enabled       BIGINT  NOT NULL DEFAULT 1,
    state         TEXT    NOT NULL DEFAULT 'unknown',
    last_value    TEXT,
    last_reason   TEXT,
    last_run_at   BIGINT,
    unknown_since BIGINT,
    alerting      BIGINT  NOT NULL DEFAULT 0,
    next_run_at   BIGINT  NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    version       BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX mon_points_due ON mon_points (enabled, next_run_at);

-- One evaluation of a point.
CREATE TABLE mon_point_runs (
    id         BIGSERIAL PRIMARY KEY,
    point_id   BIGINT  NOT NULL REFERENCES mon_points(id) ON DELETE CASCADE,
    at         BIGINT  NOT NULL,
    state      TEXT    NOT NULL,
    value      TEXT,
    reason     TEXT    NOT NULL,
    latency_ms BIGINT  NOT NULL
);
CREATE INDEX mon_point_runs_point ON mon_point_runs (point_id, at);

-- MON-09: one row per local day: when its reminder/escalation clocks were started and who signed in.
CREATE TABLE mon_signins (
    day               TEXT    PRIMARY KEY,
    clocks_started_at BIGINT,
    signed_by         TEXT,
    signed_at         BIGINT,
    note              TEXT,
    open_alerts       BIGINT,
    version           BIGINT  NOT NULL DEFAULT 1
);

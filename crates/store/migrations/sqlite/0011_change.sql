-- Change control (issue 7). Back-end data operations (DATA-01..DATA-18): registered target databases, requests
-- with their declared steps, the DATA-13 approval chain as events, and every guarded execution with the
-- before-image of the rows it changed. Instants are Unix microseconds UTC.

-- A database Tianshu may run approved steps against. The password is only ever read by the executor.
CREATE TABLE dataop_targets (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    host          TEXT    NOT NULL,
    port          INTEGER  NOT NULL,
    database_name TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    secret        TEXT    NOT NULL,
    system        TEXT    NOT NULL DEFAULT '',
    created_by    TEXT    NOT NULL,
    created_at    INTEGER  NOT NULL,
    version       INTEGER  NOT NULL DEFAULT 1
);

CREATE TABLE dataop_requests (
    id                INTEGER PRIMARY KEY,
    kind              TEXT    NOT NULL,
    state             TEXT    NOT NULL,
    target_id         INTEGER  NOT NULL REFERENCES dataop_targets(id),
    title             TEXT    NOT NULL,
    ticket_type       TEXT    NOT NULL,
    ticket_ref        TEXT    NOT NULL DEFAULT '',
    impact            TEXT    NOT NULL DEFAULT '',
    purpose           TEXT    NOT NULL DEFAULT '',
    fields            TEXT    NOT NULL DEFAULT '',
    declared_rows     INTEGER  NOT NULL,
    amount_diff_yuan  REAL,
    inventory_error   REAL,
    estimated_minutes INTEGER,
    sensitive_classes TEXT    NOT NULL DEFAULT '[]',
    vendor_mode       TEXT    NOT NULL,
    batch             INTEGER  NOT NULL DEFAULT 0,
    important         INTEGER  NOT NULL DEFAULT 0,
    classification    TEXT    NOT NULL DEFAULT '{}',
    steps             TEXT    NOT NULL,
    submitter         TEXT    NOT NULL,
    processor         TEXT    NOT NULL,
    reviewer          TEXT    NOT NULL,
    executed_by       TEXT,
    executed_at       INTEGER,
    reviewed_by       TEXT,
    reviewed_at       INTEGER,
    created_at        INTEGER  NOT NULL,
    updated_at        INTEGER  NOT NULL,
    version           INTEGER  NOT NULL DEFAULT 1
);
CREATE INDEX dataop_requests_state ON dataop_requests (state, id);
CREATE INDEX dataop_requests_created ON dataop_requests (created_at);

-- The chain: submitted, biz_approved, tech_approved, sensitive_approved, sensitive_batch_approved,
-- peak_exception, executed, execution_failed, reviewed, rejected.
CREATE TABLE dataop_events (
    id         INTEGER PRIMARY KEY,
    request_id INTEGER  NOT NULL REFERENCES dataop_requests(id),
    at         INTEGER  NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    note       TEXT    NOT NULL DEFAULT '',
    data       TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX dataop_events_request ON dataop_events (request_id, id);

-- One run of the steps. `running` is written (with the before-images) before the target commits, so a crash
-- between the two leaves a visible `running` row to verify by hand, never a silent change.
CREATE TABLE dataop_executions (
    id           INTEGER PRIMARY KEY,
    request_id   INTEGER  NOT NULL REFERENCES dataop_requests(id),
    actor        TEXT    NOT NULL,
    started_at   INTEGER  NOT NULL,
    finished_at  INTEGER,
    outcome      TEXT    NOT NULL,
    message      TEXT    NOT NULL DEFAULT '',
    before_image TEXT    NOT NULL DEFAULT '[]',
    affected     TEXT    NOT NULL DEFAULT '[]',
    result       TEXT,
    result_rows  INTEGER
);
CREATE INDEX dataop_executions_request ON dataop_executions (request_id, id);

-- Cut-over requests (CHG-13..CHG-19, CNT-01..CNT-05): the application with its plan, the approval, the alert
-- maintenance window opened for it, the customer notices queued, and the two-person execution log.
CREATE TABLE cutovers (
    id             INTEGER PRIMARY KEY,
    title          TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    systems        TEXT    NOT NULL,
    major          INTEGER  NOT NULL DEFAULT 0,
    emergency      INTEGER  NOT NULL DEFAULT 0,
    starts_at      INTEGER  NOT NULL,
    ends_at        INTEGER  NOT NULL,
    downtime_from  INTEGER,
    downtime_to    INTEGER,
    plan           TEXT    NOT NULL,
    rollback_plan  TEXT    NOT NULL,
    checklist      TEXT    NOT NULL,
    test_list      TEXT    NOT NULL,
    people         TEXT    NOT NULL,
    impact         TEXT    NOT NULL,
    circuits       TEXT    NOT NULL DEFAULT '[]',
    customer_tiers TEXT    NOT NULL DEFAULT '[]',
    notices        TEXT    NOT NULL DEFAULT '[]',
    maintenance_id INTEGER,
    state          TEXT    NOT NULL,
    requester      TEXT    NOT NULL,
    approver       TEXT,
    approved_at    INTEGER,
    completed_at   INTEGER,
    created_at     INTEGER  NOT NULL,
    updated_at     INTEGER  NOT NULL,
    version        INTEGER  NOT NULL DEFAULT 1
);
CREATE INDEX cutovers_starts ON cutovers (starts_at);

CREATE TABLE cutover_log (
    id          INTEGER PRIMARY KEY,
    cutover_id  INTEGER  NOT NULL REFERENCES cutovers(id),
    at          INTEGER  NOT NULL,
    step        TEXT    NOT NULL,
    important   INTEGER  NOT NULL DEFAULT 0,
    operator    TEXT    NOT NULL,
    supervisor  TEXT    NOT NULL,
    result      TEXT    NOT NULL DEFAULT '',
    recorded_by TEXT    NOT NULL
);
CREATE INDEX cutover_log_cutover ON cutover_log (cutover_id, id);

-- Release calendar (CHG-01..CHG-10): one row per planned release with its gates counted back on the working-day
-- calendar and the CHG-02 override when it exceeds the emergency quota.
CREATE TABLE releases (
    id              INTEGER PRIMARY KEY,
    title           TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    system_family   TEXT    NOT NULL,
    release_date    TEXT    NOT NULL,
    month           TEXT    NOT NULL,
    starts_at       INTEGER  NOT NULL,
    downtime_from   INTEGER,
    downtime_to     INTEGER,
    gates           TEXT    NOT NULL DEFAULT '[]',
    override_reason TEXT,
    override_by     TEXT,
    state           TEXT    NOT NULL,
    created_by      TEXT    NOT NULL,
    created_at      INTEGER  NOT NULL,
    version         INTEGER  NOT NULL DEFAULT 1
);
CREATE INDEX releases_month ON releases (month, kind, system_family);

-- Requirements (REQ-01, CHG-06): analysis deadline in working days, the release they ship in, and acceptance by
-- the requester or — when the requester did not take part — deemed acceptance, recorded as such.
CREATE TABLE requirements (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    requester     TEXT    NOT NULL,
    system        TEXT    NOT NULL,
    registered_at INTEGER  NOT NULL,
    analysis_due  INTEGER  NOT NULL,
    solution_at   INTEGER,
    analysis_wd   INTEGER,
    release_id    INTEGER  REFERENCES releases(id),
    acceptance    TEXT,
    accepted_by   TEXT,
    accepted_at   INTEGER,
    acceptance_note TEXT  NOT NULL DEFAULT '',
    created_by    TEXT    NOT NULL,
    version       INTEGER  NOT NULL DEFAULT 1
);
CREATE INDEX requirements_registered ON requirements (registered_at);

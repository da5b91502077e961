-- Shared mechanisms used by incidents, problems, changes, provisioning and reconciliation items:
-- a timeline of events per subject, SLA clocks with pauses, durable timers, and the outbox.

-- Timeline: everything that happened to a subject, in order.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    subject_kind  TEXT    NOT NULL,
    subject_id    TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    actor         TEXT    NOT NULL,
    data          TEXT    NOT NULL,
    -- Set when a timer produced the event: makes each firing recorded at most once.
    timer_id      INTEGER UNIQUE
);
CREATE INDEX events_subject ON events(subject_kind, subject_id, id);

-- An SLA clock: one rule's deadline for one subject, with its outcome kept as history.
CREATE TABLE clocks (
    id            INTEGER PRIMARY KEY,
    subject_kind  TEXT    NOT NULL,
    subject_id    TEXT    NOT NULL,
    clock_key     TEXT    NOT NULL,
    rule          TEXT    NOT NULL,
    basis         TEXT    NOT NULL,
    calendar      TEXT    NOT NULL,
    started_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('running','paused','met','breached','cancelled')),
    paused_at     INTEGER,
    stopped_at    INTEGER,
    breached_at   INTEGER,
    repeat_basis  TEXT,
    notify        TEXT    NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1
);
-- One live clock per key per subject; finished ones stay as history.
CREATE UNIQUE INDEX clocks_live ON clocks(subject_kind, subject_id, clock_key) WHERE state IN ('running','paused');
CREATE INDEX clocks_subject ON clocks(subject_kind, subject_id);

CREATE TABLE clock_pauses (
    clock_id   INTEGER NOT NULL REFERENCES clocks(id),
    from_at    INTEGER NOT NULL,
    to_at      INTEGER,
    reason     TEXT    NOT NULL
);
CREATE INDEX clock_pauses_clock ON clock_pauses(clock_id);

-- Durable timers: fired by whichever instance leases them first; fired exactly once.
CREATE TABLE timers (
    id            INTEGER PRIMARY KEY,
    clock_id      INTEGER REFERENCES clocks(id),
    subject_kind  TEXT    NOT NULL,
    subject_id    TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    due_at        INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('pending','fired','cancelled')),
    lease_owner   TEXT,
    lease_until   INTEGER,
    fired_at      INTEGER,
    fired_by      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    payload       TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX timers_due ON timers(state, due_at);
CREATE INDEX timers_clock ON timers(clock_id);

-- Outbox: message requests, rendered and sent by the notification workers.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    subject_kind     TEXT    NOT NULL,
    subject_id       TEXT    NOT NULL,
    template         TEXT    NOT NULL,
    -- JSON: {"classes": [...], "roles": [...], "users": [...], "addresses": [...]}
    recipients       TEXT    NOT NULL,
    context          TEXT    NOT NULL,
    cause            TEXT    NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN ('pending_review','queued','sending','sent','failed','cancelled')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_error       TEXT,
    reviewed_by      TEXT,
    reviewed_at      INTEGER
);
CREATE INDEX outbox_state ON outbox(state, next_attempt_at);
CREATE INDEX outbox_subject ON outbox(subject_kind, subject_id);

-- Monitoring intake (issue 5; MON-04, MON-06): alerts keyed by their dedup key (the same event twice is one
-- alert), their history, silences and maintenance windows. Instants are Unix microseconds UTC.

-- One alert: an Alertmanager label set (`am:<fingerprint>`) or a generic event's dedup key (`ev:<key>`).
CREATE TABLE alerts (
    id              BIGSERIAL PRIMARY KEY,
    dedup_key       TEXT    NOT NULL UNIQUE,
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
    starts_at       BIGINT  NOT NULL,
    ends_at         BIGINT,
    first_seen      BIGINT  NOT NULL,
    last_seen       BIGINT  NOT NULL,
    event_count     BIGINT  NOT NULL DEFAULT 1,
    fire_count      BIGINT  NOT NULL DEFAULT 1,
    flapping        BIGINT  NOT NULL DEFAULT 0,
    suppressed      TEXT,
    routes          TEXT    NOT NULL DEFAULT '[]',
    notified_at     BIGINT,
    incident_id     BIGINT,
    acknowledged_by TEXT,
    acknowledged_at BIGINT,
    resolved_by     TEXT,
    resolved_at     BIGINT,
    version         BIGINT  NOT NULL DEFAULT 1,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX alerts_state_seen ON alerts (state, last_seen);
CREATE INDEX alerts_group ON alerts (group_key, first_seen);
CREATE INDEX alerts_system ON alerts (system, state);

-- The history of an alert: every event received and every decision (kind), with who and what.
-- `state_change` marks firing ↔ resolved changes, which the flapping rule counts.
CREATE TABLE alert_events (
    id           BIGSERIAL PRIMARY KEY,
    alert_id     BIGINT  NOT NULL REFERENCES alerts(id),
    at           BIGINT  NOT NULL,
    kind         TEXT    NOT NULL,
    actor        TEXT    NOT NULL,
    state_change BIGINT  NOT NULL DEFAULT 0,
    data         TEXT    NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at);

-- A silence: label matchers (JSON list of Alertmanager-style strings), who, why, until when.
CREATE TABLE alert_silences (
    id         BIGSERIAL PRIMARY KEY,
    matchers   TEXT    NOT NULL,
    starts_at  BIGINT  NOT NULL,
    ends_at    BIGINT  NOT NULL,
    author     TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    expired_by TEXT,
    expired_at BIGINT,
    version    BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX alert_silences_ends ON alert_silences (ends_at);

-- A maintenance window: alerts matching it are recorded but not notified while it lasts.
CREATE TABLE alert_maintenance (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT    NOT NULL,
    matchers     TEXT    NOT NULL,
    starts_at    BIGINT  NOT NULL,
    ends_at      BIGINT  NOT NULL,
    author       TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    cancelled_by TEXT,
    cancelled_at BIGINT,
    version      BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX alert_maintenance_ends ON alert_maintenance (ends_at);

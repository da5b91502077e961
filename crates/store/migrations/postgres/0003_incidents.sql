-- Incidents (fault tickets), their dispatch children, merged duplicate reports, and typed links.

CREATE TABLE incidents (
    id               BIGSERIAL PRIMARY KEY,
    number           TEXT    NOT NULL UNIQUE,
    title            TEXT    NOT NULL,
    symptom          TEXT    NOT NULL,
    symptom_category TEXT,
    source_channel   TEXT    NOT NULL,
    reporter         TEXT    NOT NULL,
    reporter_contact TEXT,
    org_id           BIGINT NOT NULL REFERENCES organizations(id),
    region_id        BIGINT REFERENCES organizations(id),
    system_id        BIGINT REFERENCES systems(id),
    business         TEXT,
    customer         TEXT,
    cause_class      TEXT,
    state            TEXT    NOT NULL,
    fault_level      TEXT    NOT NULL DEFAULT 'general',
    level_reasons    TEXT    NOT NULL DEFAULT '[]',
    level_set_at     BIGINT,
    fl1_at           BIGINT,
    fl2_at           BIGINT,
    cs_level         BIGINT,
    -- INC-04: the pre-processor judged an escalated-complaint tendency.
    escalated_flow   BOOLEAN NOT NULL DEFAULT FALSE,
    reported_to_rm_at BIGINT,
    -- Immediate-report criteria already sent (ESC-01, INC-09), so each is sent once.
    notified         TEXT    NOT NULL DEFAULT '[]',
    facts            TEXT    NOT NULL DEFAULT '{}',
    handler_id       BIGINT REFERENCES users(id),
    auditor_id       BIGINT REFERENCES users(id),
    -- A duplicate report merged under a master keeps its row and history (DUP-01).
    master_id        BIGINT REFERENCES incidents(id),
    -- A dispatch child (DUP-04) or clone (DUP-02/03) points at its parent.
    parent_id        BIGINT REFERENCES incidents(id),
    child_kind       TEXT,
    assignee_org_id  BIGINT REFERENCES organizations(id),
    due_at           BIGINT,
    progress         BIGINT NOT NULL DEFAULT 0,
    last_progress_at BIGINT,
    created_by       TEXT    NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    resolved_at      BIGINT,
    closed_at        BIGINT,
    version          BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX incidents_state ON incidents(state, id);
CREATE INDEX incidents_region ON incidents(region_id, id);
CREATE INDEX incidents_parent ON incidents(parent_id);
CREATE INDEX incidents_master ON incidents(master_id);
CREATE INDEX incidents_system_time ON incidents(system_id, created_at);

-- Typed links between any two subjects (incident ↔ bug, problem, data-fix, change, alert, customer).
CREATE TABLE links (
    id          BIGSERIAL PRIMARY KEY,
    from_kind   TEXT    NOT NULL,
    from_id     TEXT    NOT NULL,
    to_kind     TEXT    NOT NULL,
    to_id       TEXT    NOT NULL,
    link_type   TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (from_kind, from_id, to_kind, to_id, link_type)
);
CREATE INDEX links_to ON links(to_kind, to_id);

-- Daily sequence for human-readable incident numbers.
CREATE TABLE number_sequences (
    scope  TEXT    PRIMARY KEY,
    value  BIGINT NOT NULL
);

-- BUG records raised from incidents (BUG-02/05); urgency is its own scale (C-6).
CREATE TABLE bugs (
    id                   BIGSERIAL PRIMARY KEY,
    number               TEXT    NOT NULL UNIQUE,
    incident_id          BIGINT NOT NULL REFERENCES incidents(id),
    urgency              TEXT    NOT NULL CHECK (urgency IN ('special','urgent','normal')),
    payload              TEXT    NOT NULL,
    state                TEXT    NOT NULL,
    created_by           TEXT    NOT NULL,
    created_at           BIGINT NOT NULL
);
CREATE INDEX bugs_incident ON bugs(incident_id);

-- Files attached to a subject (screenshots, logs, scripts); kept in the database so backups and
-- several instances see the same files.
CREATE TABLE attachments (
    id            BIGSERIAL PRIMARY KEY,
    subject_kind  TEXT    NOT NULL,
    subject_id    TEXT    NOT NULL,
    filename      TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    size          BIGINT NOT NULL,
    sha256        TEXT    NOT NULL,
    data          BYTEA    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX attachments_subject ON attachments(subject_kind, subject_id);

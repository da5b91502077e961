-- Problem management (PRB-01..PRB-13): the problem report form and work order (PRB-12), the milestones the
-- deadlines are measured against, review actions tracked to closure (PRB-09), links to incidents, bugs and
-- changes, and the history. Instants are Unix microseconds UTC like everywhere else.

CREATE TABLE problems (
    id               BIGSERIAL PRIMARY KEY,
    title            TEXT    NOT NULL,
    level            TEXT    NOT NULL,
    category         TEXT    NOT NULL,
    source           TEXT    NOT NULL,
    -- reported → dispatched → resolved → closed
    state            TEXT    NOT NULL DEFAULT 'reported',
    discovered_at     BIGINT NOT NULL,
    reported_at       BIGINT NOT NULL,
    reporter         TEXT    NOT NULL,
    symptom          TEXT    NOT NULL,
    impact           TEXT    NOT NULL,
    on_site_data     TEXT    NOT NULL DEFAULT '',
    cause_analysis   TEXT    NOT NULL DEFAULT '',
    coordinator      TEXT,
    responded_at      BIGINT,
    -- PRB-06: when the managers of a P1/P2 were told (through the outbox)
    managers_told_at  BIGINT,
    dispatcher       TEXT,
    dispatched_at     BIGINT,
    handler          TEXT,
    handled_at        BIGINT,
    result           TEXT,
    method           TEXT,
    improvement      TEXT,
    resolved_at       BIGINT,
    analysis_report  TEXT,
    analysis_at       BIGINT,
    meeting_minutes  TEXT,
    meeting_at        BIGINT,
    archived_by      TEXT,
    archived_at       BIGINT,
    retain_until      BIGINT,
    -- PRB-11: the other department, the letter and its reply deadline
    other_department TEXT,
    letter_at         BIGINT,
    reply_due         BIGINT,
    replied_at        BIGINT,
    reply            TEXT,
    version           BIGINT NOT NULL DEFAULT 1,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX problems_state ON problems (state, id);
CREATE INDEX problems_reported ON problems (reported_at);

-- PRB-09: actions decided at the review meeting, each tracked to closure.
CREATE TABLE problem_actions (
    id          BIGSERIAL PRIMARY KEY,
    problem_id   BIGINT NOT NULL REFERENCES problems(id),
    text        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    due_at       BIGINT NOT NULL,
    closed_by   TEXT,
    closed_at    BIGINT,
    outcome     TEXT,
    created_by  TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX problem_actions_problem ON problem_actions (problem_id);

-- Links to incidents, bugs and changes (kind + the other record's reference).
CREATE TABLE problem_links (
    problem_id   BIGINT NOT NULL REFERENCES problems(id),
    kind        TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (problem_id, kind, target)
);
CREATE INDEX problem_links_target ON problem_links (kind, target);

CREATE TABLE problem_events (
    id          BIGSERIAL PRIMARY KEY,
    problem_id   BIGINT NOT NULL REFERENCES problems(id),
    at           BIGINT NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    data        TEXT    NOT NULL
);
CREATE INDEX problem_events_problem ON problem_events (problem_id, at);

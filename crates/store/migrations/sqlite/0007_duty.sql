-- Duty rosters (DUTY-02..DUTY-06, DUTY-09): published rosters, the assignments they hold, one-off overrides,
-- swap requests, daily duty reports and hand-over notes. Days are local dates as 'YYYY-MM-DD' text (they sort
-- and compare as dates on both backends); instants are Unix microseconds UTC like everywhere else.

-- One publication: a generated rotation or an imported spreadsheet over a date range.
CREATE TABLE duty_rosters (
    id          INTEGER PRIMARY KEY,
    from_day    TEXT    NOT NULL,
    to_day      TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    slots       TEXT    NOT NULL,
    assignments INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- One person on one slot and shift of one day. Publishing replaces a range's rows of the published slots;
-- overrides and approved swaps change `username` (with `version` for optimistic concurrency).
CREATE TABLE duty_assignments (
    id          INTEGER PRIMARY KEY,
    roster_id   INTEGER REFERENCES duty_rosters(id),
    day         TEXT    NOT NULL,
    slot        TEXT    NOT NULL,
    shift       TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    region      TEXT,
    source      TEXT    NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    updated_at  INTEGER NOT NULL,
    UNIQUE (day, slot, shift, username)
);
CREATE INDEX duty_assignments_user_day ON duty_assignments (username, day);

-- A one-off replacement of the person of an assignment (day, slot and shift kept for history when the
-- assignment is later replaced by a new publication).
CREATE TABLE duty_overrides (
    id            INTEGER PRIMARY KEY,
    assignment_id INTEGER NOT NULL,
    day           TEXT    NOT NULL,
    slot          TEXT    NOT NULL,
    shift         TEXT    NOT NULL,
    from_user     TEXT    NOT NULL,
    to_user       TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

-- A swap: the requester gives away an assignment to the counterpart, optionally taking one of the
-- counterpart's in exchange. requested → approved | rejected; the approver is not the requester.
CREATE TABLE duty_swaps (
    id                  INTEGER PRIMARY KEY,
    assignment_id       INTEGER NOT NULL,
    counter_assignment_id INTEGER,
    requester           TEXT    NOT NULL,
    counterpart         TEXT    NOT NULL,
    reason              TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'requested',
    decided_by          TEXT,
    decided_at          INTEGER,
    note                TEXT,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          INTEGER NOT NULL,
    CHECK (state IN ('requested', 'approved', 'rejected')),
    CHECK (decided_by IS NULL OR decided_by <> requester)
);
CREATE INDEX duty_swaps_state ON duty_swaps (state, id);

-- DUTY-06: the daily duty report of one duty, filed once.
CREATE TABLE duty_reports (
    id            INTEGER PRIMARY KEY,
    day           TEXT    NOT NULL,
    slot          TEXT    NOT NULL,
    shift         TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    fields        TEXT    NOT NULL,
    submitted_at  INTEGER NOT NULL,
    UNIQUE (day, slot, shift, username)
);

-- Hand-over notes between shifts.
CREATE TABLE duty_handovers (
    id          INTEGER PRIMARY KEY,
    day         TEXT    NOT NULL,
    slot        TEXT    NOT NULL,
    shift       TEXT    NOT NULL,
    author      TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX duty_handovers_day ON duty_handovers (day, id);

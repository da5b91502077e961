-- Group-customer complaints (KPI-08 records) and evaluator assessments of `assessed` indicators (KPI-12/KPI-13).
--
-- A complaint carries the handling deadline customer service set with it: the seed gives KPI-08's formula but
-- no complaint-handling limit, so `due_at` is an input, not computed from the pack. It is closed by a separate
-- transition (closed_at, resolution); KPI-08 counts it in the month it was closed, on time when closed_at ≤ due_at.
--
-- An assessment is the points an evaluator gives one indicator of one unit for one month. A re-assessment
-- supersedes the current one: both rows stay (history), and at most one row per (set, indicator, unit, period)
-- is current (superseded_at IS NULL).

CREATE TABLE complaints (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES group_customers(id),
    received_at  INTEGER NOT NULL,
    -- the handling deadline set by customer service with the complaint
    due_at       INTEGER NOT NULL,
    -- SEV-08 customer-service level 1..4 (CS1..CS4), an input attribute; NULL when not given
    cs_level     INTEGER CHECK (cs_level BETWEEN 1 AND 4),
    incident_id  INTEGER REFERENCES incidents(id),
    summary      TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open','closed')),
    closed_at    INTEGER,
    closed_by    TEXT,
    resolution   TEXT    NOT NULL DEFAULT '',
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    CHECK (due_at > received_at),
    CHECK ((state = 'open' AND closed_at IS NULL) OR (state = 'closed' AND closed_at >= received_at))
);
CREATE INDEX complaints_customer ON complaints(customer_id, id);
CREATE INDEX complaints_closed ON complaints(closed_at);

CREATE TABLE kpi_assessments (
    id             INTEGER PRIMARY KEY,
    -- set and indicator keys of kpi.toml
    set_key        TEXT    NOT NULL,
    indicator_key  TEXT    NOT NULL,
    -- the assessed unit (branch, province or vendor)
    org_id         INTEGER NOT NULL REFERENCES organizations(id),
    -- local month YYYY-MM
    period         TEXT    NOT NULL,
    -- points in hundredths (exact to 0.01), within 0..=max of the indicator when assessed
    points         INTEGER NOT NULL CHECK (points >= 0),
    max_points     INTEGER NOT NULL,
    -- the indicator's rule (KPI-13)
    rule           TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    assessed_by    TEXT    NOT NULL,
    assessed_at    INTEGER NOT NULL,
    -- the assessment this one replaced, and the one that replaced this
    supersedes     INTEGER REFERENCES kpi_assessments(id),
    superseded_by  INTEGER REFERENCES kpi_assessments(id),
    superseded_at  INTEGER,
    CHECK (max_points >= points)
);
CREATE UNIQUE INDEX kpi_assessments_current
    ON kpi_assessments(set_key, indicator_key, org_id, period) WHERE superseded_at IS NULL;
CREATE INDEX kpi_assessments_period ON kpi_assessments(period, set_key, id);

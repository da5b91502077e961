-- Group customers with their service tier (SLA-01/SLA-02), the records the KPI scorecards read their tier from
-- (KPI-07: an incident whose `customer` is a group customer's key is that customer's fault).

CREATE TABLE group_customers (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    tier        TEXT    NOT NULL CHECK (tier IN ('key_assurance','diamond','gold','silver','bronze')),
    org_id      INTEGER REFERENCES organizations(id),
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX group_customers_tier ON group_customers(tier);
CREATE INDEX incidents_resolved ON incidents(resolved_at);

-- RPT-06: at most one pending timer of the monthly report pack's e-mail, however many instances start.
CREATE UNIQUE INDEX timers_one_monthly_pack ON timers(kind) WHERE state = 'pending' AND kind = 'report.monthly_pack';

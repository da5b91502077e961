-- SLA-07 delay requests with an approval step (issue 8): a request filed before the deadline waits as
-- `requested` until a second person decides it (four-eyes: the decider is not the requester); approved it is
-- `granted` (a pause of the SLA-06 clock, as before), rejected it is `rejected` with the reason. Filed at or after
-- the deadline it is still `refused_late` at once (one overdue). SQLite cannot change a CHECK constraint, so the
-- table is rebuilt with the rows kept; rows of 0018 were decided at filing, so they get no decider.

CREATE TABLE provisioning_delays_0025 (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES provisioning_orders(id),
    reason          TEXT    NOT NULL CHECK (reason IN ('customer_caused')),
    from_at         INTEGER NOT NULL,
    until_at        INTEGER NOT NULL,
    note            TEXT    NOT NULL DEFAULT '',
    -- requested: awaiting a decision; granted: approved, excluded from the clock; rejected: not approved;
    -- refused_late: filed at or after the deadline, one overdue (SLA-07)
    outcome         TEXT    NOT NULL CHECK (outcome IN ('requested','granted','rejected','refused_late')),
    deadline_before INTEGER NOT NULL,
    deadline_after  INTEGER NOT NULL,
    filed_by        TEXT    NOT NULL,
    filed_at        INTEGER NOT NULL,
    -- the requester's user name (four-eyes check); '' for rows filed before 0025
    requested_by    TEXT    NOT NULL DEFAULT '',
    decided_by      TEXT,
    decided_at      INTEGER,
    -- the reason given when rejecting
    decision_note   TEXT    NOT NULL DEFAULT ''
);
INSERT INTO provisioning_delays_0025 (id, order_id, reason, from_at, until_at, note, outcome, deadline_before,
    deadline_after, filed_by, filed_at)
SELECT id, order_id, reason, from_at, until_at, note, outcome, deadline_before, deadline_after, filed_by, filed_at
FROM provisioning_delays;
DROP TABLE provisioning_delays;
ALTER TABLE provisioning_delays_0025 RENAME TO provisioning_delays;
CREATE INDEX provisioning_delays_order ON provisioning_delays(order_id, id);
-- At most one request of an order awaits a decision.
CREATE UNIQUE INDEX provisioning_delays_one_requested ON provisioning_delays(order_id) WHERE outcome = 'requested';

-- SLA-07 delay requests with an approval step (issue 8): a request filed before the deadline waits as
-- `requested` until a second person decides it (four-eyes: the decider is not the requester); approved it is
-- `granted` (a pause of the SLA-06 clock, as before), rejected it is `rejected` with the reason. Filed at or after
-- the deadline it is still `refused_late` at once (one overdue). Rows of 0018 were decided at filing, so they get
-- no decider.

ALTER TABLE provisioning_delays DROP CONSTRAINT provisioning_delays_outcome_check;
ALTER TABLE provisioning_delays ADD CONSTRAINT provisioning_delays_outcome_check
    CHECK (outcome IN ('requested','granted','rejected','refused_late'));
-- the requester's user name (four-eyes check); '' for rows filed before 0025
ALTER TABLE provisioning_delays ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';
ALTER TABLE provisioning_delays ADD COLUMN decided_by TEXT;
ALTER TABLE provisioning_delays ADD COLUMN decided_at BIGINT;
-- the reason given when rejecting
ALTER TABLE provisioning_delays ADD COLUMN decision_note TEXT NOT NULL DEFAULT '';
-- At most one request of an order awaits a decision.
CREATE UNIQUE INDEX provisioning_delays_one_requested ON provisioning_delays(order_id) WHERE outcome = 'requested';

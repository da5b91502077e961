-- Provisioning orders of group customers (SLA-04..SLA-07) and their delay requests. The limit is stored as it
-- was computed when the order was placed (tier, access points, SLA-05 rounding of that day's pack), so a later
-- pack or tier change does not move a running deadline; the deadline moves only by granted delays (SLA-06/07).

CREATE TABLE provisioning_orders (
    id             BIGSERIAL PRIMARY KEY,
    customer_id    BIGINT  NOT NULL REFERENCES group_customers(id),
    -- a stage key of sla.toml (existing_network_survey, construction_survey, provisioning, …)
    stage          TEXT    NOT NULL,
    tier           TEXT    NOT NULL CHECK (tier IN ('key_assurance','diamond','gold','silver','bronze')),
    access_points  BIGINT  NOT NULL CHECK (access_points >= 1),
    city           TEXT    NOT NULL,
    note           TEXT    NOT NULL DEFAULT '',
    -- SLA-04 limit after SLA-05 scaling, e.g. '13wd'
    limit_text     TEXT    NOT NULL,
    started_at     BIGINT  NOT NULL,
    deadline_at    BIGINT  NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open','completed')),
    completed_at   BIGINT,
    -- SLA-07: delay requests filed at or after the deadline, each one overdue
    late_requests  BIGINT  NOT NULL DEFAULT 0,
    created_by     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    version        BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX provisioning_orders_customer ON provisioning_orders(customer_id, id);
CREATE INDEX provisioning_orders_completed ON provisioning_orders(completed_at);

CREATE TABLE provisioning_delays (
    id              BIGSERIAL PRIMARY KEY,
    order_id        BIGINT  NOT NULL REFERENCES provisioning_orders(id),
    reason          TEXT    NOT NULL CHECK (reason IN ('customer_caused')),
    from_at         BIGINT  NOT NULL,
    until_at        BIGINT  NOT NULL,
    note            TEXT    NOT NULL DEFAULT '',
    -- granted: excluded from the clock; refused_late: filed at or after the deadline, one overdue (SLA-07)
    outcome         TEXT    NOT NULL CHECK (outcome IN ('granted','refused_late')),
    deadline_before BIGINT  NOT NULL,
    deadline_after  BIGINT  NOT NULL,
    filed_by        TEXT    NOT NULL,
    filed_at        BIGINT  NOT NULL
);
CREATE INDEX provisioning_delays_order ON provisioning_delays(order_id, id);

-- Delivery steps of provisioning orders (issue 8, KPI engine): SLA-09 acceptances and the KPI-06 data
-- configuration, the records KPI-05 (acceptance pass rate) and KPI-06 (data-configuration timeliness) are
-- computed from. The phase order (SLA-09) is checked by the service; the tables keep what was held, failures
-- included, because KPI-05 counts an order's FIRST initial acceptance.

CREATE TABLE provisioning_acceptances (
    id           INTEGER PRIMARY KEY,
    order_id     INTEGER NOT NULL REFERENCES provisioning_orders(id),
    phase        TEXT    NOT NULL CHECK (phase IN ('accompanying_inspection','initial_acceptance','trial_run','final_acceptance')),
    -- failed: back to engineering for rectification, the phase is held again (SLA-09)
    outcome      TEXT    NOT NULL CHECK (outcome IN ('passed','failed')),
    held_at      INTEGER NOT NULL,
    note         TEXT    NOT NULL DEFAULT '',
    recorded_by  TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX provisioning_acceptances_order ON provisioning_acceptances(order_id, id);
-- KPI-05 reads initial acceptances by the month they were held.
CREATE INDEX provisioning_acceptances_held ON provisioning_acceptances(phase, held_at);

-- One data configuration per order: the notice, then the start (KPI-06 measures start − notice against the
-- limit of kpi.toml, in units of the customer's tier as it stood when the notice was recorded). Both instants
-- are recorded once and never moved.
CREATE TABLE provisioning_data_configs (
    order_id     INTEGER PRIMARY KEY REFERENCES provisioning_orders(id),
    notified_at  INTEGER NOT NULL,
    started_at   INTEGER CHECK (started_at IS NULL OR started_at >= notified_at),
    tier         TEXT    NOT NULL CHECK (tier IN ('key_assurance','diamond','gold','silver','bronze')),
    note         TEXT    NOT NULL DEFAULT '',
    notified_by  TEXT    NOT NULL,
    started_by   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX provisioning_data_configs_started ON provisioning_data_configs(started_at);

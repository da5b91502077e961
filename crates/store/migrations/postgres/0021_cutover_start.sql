-- CHG-17: the on-site start of a cut-over. Before any step is logged the on-site lead records the start conditions
-- (kick-off with the contractor, a qualified lead arrived early enough, equipment checked, host staff, cooperating
-- departments and contractor present) and gives the order; one record per cut-over, written when the order is given
-- and never changed (the cut-over moves from `approved` to `started`).
CREATE TABLE cutover_starts (
    cutover_id          BIGINT  PRIMARY KEY REFERENCES cutovers(id),
    kickoff_at          BIGINT  NOT NULL,
    lead                TEXT    NOT NULL,
    lead_qualified      BIGINT  NOT NULL,
    arrived_at          BIGINT  NOT NULL,
    equipment_checked   BIGINT  NOT NULL,
    host_present        BIGINT  NOT NULL,
    departments_present BIGINT  NOT NULL,
    contractor_present  BIGINT  NOT NULL,
    note                TEXT    NOT NULL DEFAULT '',
    ordered_by          TEXT    NOT NULL,
    ordered_at          BIGINT  NOT NULL
);

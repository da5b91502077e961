-- Key rotation (issue 7): `tianshu secrets rotate-key` re-encrypts every stored credential under a new key version
-- in one transaction and marks the older versions retired here (no stored value uses them any more).
ALTER TABLE credential_keys ADD COLUMN retired_at BIGINT;

-- CHG-20: who is responsible for a data cut-over (kind `data`), derived from change.toml [[cutover.data_case]]
-- when it is applied; a province-wide fault needs the central operations team's rectification report before the
-- cut-over is completed.
ALTER TABLE cutovers ADD COLUMN data_case TEXT;
ALTER TABLE cutovers ADD COLUMN responsible TEXT;
ALTER TABLE cutovers ADD COLUMN rectification_report TEXT;
ALTER TABLE cutovers ADD COLUMN rectification_by TEXT;
ALTER TABLE cutovers ADD COLUMN rectification_at BIGINT;

-- CNT-06: key-communications assurance (重保) plans for a holiday or event: draft → active → archived (after the
-- period). While an active plan's period runs, every incident reported in its scope (systems / regions) is
-- reported to the network department through the outbox; each such report is kept here once per plan and incident.
CREATE TABLE assurance_plans (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT    NOT NULL,
    starts_at      BIGINT  NOT NULL,
    ends_at        BIGINT  NOT NULL,
    scope_systems  TEXT    NOT NULL DEFAULT '[]',
    scope_regions  TEXT    NOT NULL DEFAULT '[]',
    region_ids     TEXT    NOT NULL DEFAULT '[]',
    measures       TEXT    NOT NULL,
    contingency    TEXT    NOT NULL,
    escalation     TEXT    NOT NULL,
    contacts       TEXT    NOT NULL,
    weak_sections  TEXT    NOT NULL DEFAULT '[]',
    state          TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    activated_by   TEXT,
    activated_at   BIGINT,
    archived_by    TEXT,
    archived_at    BIGINT,
    updated_at     BIGINT  NOT NULL,
    version        BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX assurance_plans_period ON assurance_plans (state, starts_at, ends_at);

CREATE TABLE assurance_fault_reports (
    plan_id     BIGINT  NOT NULL REFERENCES assurance_plans(id),
    incident_id BIGINT  NOT NULL,
    outbox_key  TEXT    NOT NULL,
    reported_at BIGINT  NOT NULL,
    PRIMARY KEY (plan_id, incident_id)
);

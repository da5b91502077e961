-- ESC-06..ESC-09: the report to the centre manager (starts ESC-08) and the department that owns the fault, which
-- may be another room or department (ESC-06: the reporting obligations apply all the same).
ALTER TABLE incidents ADD COLUMN reported_to_cm_at BIGINT;
ALTER TABLE incidents ADD COLUMN owning_org_id BIGINT REFERENCES organizations(id);

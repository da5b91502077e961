-- Problem scope (issue 8): which organisation a problem concerns and so which branch (region) it belongs to,
-- read like incidents: a branch-scoped reader sees only the problems of their branch; and the vendor it was
-- dispatched to, so a vendor's users see only the problems their organisation handles. Problems recorded
-- before this migration have neither and stay visible to province-scoped readers only.
ALTER TABLE problems ADD COLUMN org_id INTEGER REFERENCES organizations(id);
ALTER TABLE problems ADD COLUMN region_id INTEGER REFERENCES organizations(id);
ALTER TABLE problems ADD COLUMN vendor_org_id INTEGER REFERENCES organizations(id);
-- CHG-21: the fix needs a system change (work order); such a problem is resolved only with a change linked.
ALTER TABLE problems ADD COLUMN needs_change BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX problems_region ON problems (region_id, id);
CREATE INDEX problems_vendor ON problems (vendor_org_id, id);

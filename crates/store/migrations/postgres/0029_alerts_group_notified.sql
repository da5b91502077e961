-- Grouping (MON) only asks whether another alert of the group was *notified* within the window; most alerts of a
-- busy group are suppressed as grouped and never notified. Indexing only the notified ones keeps the index tiny
-- and takes one random index-page write per new alert out of the intake path (bench/RESULTS.md, session 11).
DROP INDEX alerts_group;
CREATE INDEX alerts_group_notified ON alerts (group_key, first_seen) WHERE notified_at IS NOT NULL;

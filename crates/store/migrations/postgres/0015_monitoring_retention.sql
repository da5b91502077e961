-- Retention of monitoring history (issue 5): the schedule of the monitoring housekeeping jobs (claimed by a
-- conditional update of next_run_at, so one instance runs each slot and a restart neither skips nor repeats it)
-- and the indexes the pruning deletes by.
CREATE TABLE mon_jobs (
    name        TEXT   PRIMARY KEY,
    next_run_at BIGINT NOT NULL,
    last_run_at BIGINT,
    last_result TEXT
);
CREATE INDEX probe_runs_started ON probe_runs (started_at);
CREATE INDEX mon_point_runs_at ON mon_point_runs (at);

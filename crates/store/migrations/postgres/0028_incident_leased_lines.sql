-- KPI-09 network quality: the leased line a customer fault is on (issue 8). A separate table rather than two
-- columns of `incidents`: only customer faults carry one, and the incident insert is the hottest write path.
-- The line is the customer's circuit id; the service type (a [[service_type]] key of sla.toml) with the
-- customer's tier gives the line's SLA-03 assurance level, whose network-quality standard KPI-09 judges it by.
-- Setting or clearing it bumps the incident's version (optimistic concurrency) and is on its timeline.

CREATE TABLE incident_leased_lines (
    incident_id   BIGINT PRIMARY KEY REFERENCES incidents(id),
    leased_line   TEXT    NOT NULL CHECK (length(leased_line) BETWEEN 1 AND 64),
    service_type  TEXT,
    set_by        TEXT    NOT NULL,
    set_at        BIGINT NOT NULL
);
CREATE INDEX incident_leased_lines_line ON incident_leased_lines(leased_line);

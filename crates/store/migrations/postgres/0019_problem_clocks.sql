-- Problem deadlines as durable clocks (issue 8): the clocks and timers are the shared tables of 0002; only the
-- PRB-09 monthly problem report's e-mail needs a guard.

-- PRB-09: at most one pending timer of the monthly problem report's e-mail, however many instances start.
CREATE UNIQUE INDEX timers_one_problem_monthly ON timers(kind) WHERE state = 'pending' AND kind = 'problem.monthly_report';

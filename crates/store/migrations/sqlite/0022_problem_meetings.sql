-- PRB-13: the problem group's monthly meeting (improvements and preventive measures) with its actions tracked
-- to closure. Its own tables rather than a nullable problem_actions.problem_id: review actions (PRB-09) belong
-- to one problem and block that problem's archive (PRB-10 counts its open actions), while a month's actions
-- span problems; sharing the table would make every per-problem query and the archive check filter the
-- month's rows out, and a NULL link would silently turn a forgotten problem id into a month action.

CREATE TABLE problem_meetings (
    id          INTEGER PRIMARY KEY,
    -- YYYY-MM of held_at in the centre's time zone: one meeting per month (PRB-13 "每月召开一次")
    month       TEXT    NOT NULL UNIQUE,
    held_at     INTEGER NOT NULL,
    -- JSON array of names as entered
    attendees   TEXT    NOT NULL,
    minutes     TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE problem_meeting_actions (
    id          INTEGER PRIMARY KEY,
    meeting_id  INTEGER NOT NULL REFERENCES problem_meetings(id),
    text        TEXT    NOT NULL,
    owner       TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    -- open → done: closed_at / closed_by / note set together
    closed_by   TEXT,
    closed_at   INTEGER,
    note        TEXT,
    created_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX problem_meeting_actions_meeting ON problem_meeting_actions (meeting_id);

-- Foundation schema (SQLite). Timestamps are INTEGER Unix microseconds UTC in both backends:
-- exact, ordered, and identical bytes for the audit hash on SQLite and PostgreSQL.
CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('province','branch','team','vendor')),
    parent_id   INTEGER REFERENCES organizations(id),
    region_id   INTEGER REFERENCES organizations(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE roles (
    key         TEXT PRIMARY KEY,
    name_zh     TEXT NOT NULL,
    name_en     TEXT NOT NULL,
    scope       TEXT NOT NULL CHECK (scope IN ('province','region','vendor'))
);

CREATE TABLE role_permissions (
    role_key    TEXT NOT NULL REFERENCES roles(key) ON DELETE CASCADE,
    permission  TEXT NOT NULL,
    PRIMARY KEY (role_key, permission)
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,
    display_name   TEXT    NOT NULL,
    org_id         INTEGER NOT NULL REFERENCES organizations(id),
    email          TEXT,
    phone          TEXT,
    locale         TEXT    NOT NULL DEFAULT 'zh-CN',
    password_hash  TEXT,
    province_scope BOOLEAN NOT NULL DEFAULT FALSE,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_key  TEXT    NOT NULL REFERENCES roles(key),
    PRIMARY KEY (user_id, role_key)
);

CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE login_throttle (
    username      TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL,
    locked_until  INTEGER
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    scopes       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);

CREATE TABLE rate_limits (
    key          TEXT    PRIMARY KEY,
    window_start INTEGER NOT NULL,
    count        INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    object_type  TEXT    NOT NULL,
    object_id    TEXT    NOT NULL,
    before       TEXT,
    after        TEXT,
    request_id   TEXT,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);
CREATE INDEX audit_object ON audit_log(object_type, object_id);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE policy_versions (
    id           INTEGER PRIMARY KEY,
    version      TEXT    NOT NULL,
    source_hash  TEXT    NOT NULL,
    files        TEXT    NOT NULL,
    loaded_at    INTEGER NOT NULL,
    loaded_by    TEXT    NOT NULL
);

CREATE TABLE policy_active (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version_id  INTEGER NOT NULL REFERENCES policy_versions(id)
);

CREATE TABLE holiday_years (
    year        INTEGER PRIMARY KEY,
    data        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL
);

-- Monitored business-support systems (CRM, billing, agent portal, ESB …).
CREATE TABLE systems (
    id             INTEGER PRIMARY KEY,
    key            TEXT    NOT NULL UNIQUE,
    name           TEXT    NOT NULL,
    owner_org_id   INTEGER REFERENCES organizations(id),
    vendor_org_id  INTEGER REFERENCES organizations(id),
    created_at     INTEGER NOT NULL
);

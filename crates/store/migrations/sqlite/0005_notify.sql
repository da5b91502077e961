-- Notifications: operator template overrides, external contacts, recipient lists (NTF-02 classes, NTF-10
-- regional lists), review and leasing columns on the outbox, and the per-recipient delivery log.

-- An operator's text for a pack template (NTF-08); the pack's text applies when there is no row.
CREATE TABLE notify_templates (
    id          TEXT    PRIMARY KEY,
    subject_zh  TEXT    NOT NULL,
    subject_en  TEXT    NOT NULL,
    zh          TEXT    NOT NULL,
    en          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    updated_by  TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- People who are not platform users (e.g. branch store managers on an SMS list).
CREATE TABLE notify_contacts (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    mobile      TEXT,
    email       TEXT,
    locale      TEXT    NOT NULL DEFAULT 'zh-CN',
    created_at  INTEGER NOT NULL
);

CREATE TABLE notify_lists (
    id          INTEGER PRIMARY KEY,
    key         TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- A list member is a user or a contact; `member` ('user:<id>' / 'contact:<id>') is the per-person identity
-- used to de-duplicate recipients across lists (NTF-10).
CREATE TABLE notify_list_members (
    list_id     INTEGER NOT NULL REFERENCES notify_lists(id) ON DELETE CASCADE,
    member      TEXT    NOT NULL,
    user_id     INTEGER REFERENCES users(id),
    contact_id  INTEGER REFERENCES notify_contacts(id),
    PRIMARY KEY (list_id, member),
    CHECK ((user_id IS NULL) <> (contact_id IS NULL))
);

ALTER TABLE outbox ADD COLUMN locale TEXT NOT NULL DEFAULT 'zh-CN';
-- JSON list of channels; NULL = the template's channels.
ALTER TABLE outbox ADD COLUMN channels TEXT;
ALTER TABLE outbox ADD COLUMN drafted_by TEXT;
-- 'approved' / 'rejected' (NTF-09); the reason or note of the reviewer.
ALTER TABLE outbox ADD COLUMN review_outcome TEXT;
ALTER TABLE outbox ADD COLUMN review_note TEXT;
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
ALTER TABLE outbox ADD COLUMN sent_at INTEGER;
ALTER TABLE outbox ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- One row per (message, recipient, channel): the delivery log, and the unit the worker sends and retries.
-- `delivery_key` is sent with the message (header / Message-ID) so a receiver can drop a re-send after a crash.
CREATE TABLE notify_deliveries (
    id              INTEGER PRIMARY KEY,
    outbox_id       INTEGER NOT NULL REFERENCES outbox(id),
    delivery_key    TEXT    NOT NULL UNIQUE,
    recipient       TEXT    NOT NULL,
    recipient_name  TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending','held','sent','digested','dead','skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    sent_at         INTEGER,
    -- Set when the message went out inside a digest: the digest's key.
    digest_key      TEXT,
    subject         TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX notify_deliveries_due ON notify_deliveries(state, next_attempt_at);
CREATE INDEX notify_deliveries_message ON notify_deliveries(outbox_id);
CREATE INDEX notify_deliveries_address ON notify_deliveries(channel, address, sent_at);

-- Saved views of console lists (issue 9): a user's named filter sets for one list page, e.g. "my region's
-- open FL2 tickets". The query is the list page's own query string, validated by the service when saved.
CREATE TABLE saved_views (
    id         BIGSERIAL PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id),
    page       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    query      TEXT    NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, page, name)
);

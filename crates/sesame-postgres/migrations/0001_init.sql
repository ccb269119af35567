-- sesame-postgres schema version 1. `{schema}` is replaced by the store's schema, quoted.
-- Run by PostgresStore::migrate(), in a transaction, under an advisory lock.

-- Sessions, keyed by the store key (SHA-256 of the session id, 32 bytes; never the id).
-- `record` is the core's encoding of the record (`Record::encode`). `version`, `user_id`,
-- `last_seen` and `expires_at` repeat what the store needs to query without decoding it;
-- `touch` raises `last_seen` and `expires_at` here only, and loads apply them to the record.
CREATE TABLE IF NOT EXISTS {schema}.sessions (
    key        bytea       PRIMARY KEY,
    user_id    text,
    version    bigint      NOT NULL,
    last_seen  bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    record     bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user_id_idx ON {schema}.sessions (user_id)
    WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON {schema}.sessions (expires_at);

-- Remember-me tokens, keyed by their selector; only a hash of the validator is in `record`.
CREATE TABLE IF NOT EXISTS {schema}.remember_tokens (
    selector   text        PRIMARY KEY,
    user_id    text        NOT NULL,
    version    bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    record     bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS remember_tokens_user_id_idx ON {schema}.remember_tokens (user_id);
CREATE INDEX IF NOT EXISTS remember_tokens_expires_at_idx ON {schema}.remember_tokens (expires_at);

-- Login-throttle state, keyed by a hex digest naming an account or a device.
CREATE TABLE IF NOT EXISTS {schema}.throttle (
    key        text        PRIMARY KEY,
    version    bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    record     bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS throttle_expires_at_idx ON {schema}.throttle (expires_at);

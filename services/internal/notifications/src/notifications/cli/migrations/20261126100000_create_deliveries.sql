-- The welcome emails the mail API accepted: one row per causing event (PG-1: the rule lives in
-- the schema). `source_message_id` is unique, so a redelivered event can never be recorded
-- twice, and its unique index serves the lookup by causing event (PG-4). There is no foreign
-- key to the user: users live in the users service's own database (PG-12: no shared database).
-- +goose Up
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';
CREATE TABLE deliveries (
    notification_id     uuid        PRIMARY KEY,
    source_message_id   text        NOT NULL UNIQUE CHECK (source_message_id <> ''),
    user_id             uuid        NOT NULL,
    email               text        NOT NULL CHECK (email <> ''),
    kind                text        NOT NULL CHECK (kind IN ('welcome')),
    provider_message_id text        NOT NULL CHECK (provider_message_id <> ''),
    sent_at             timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE deliveries;

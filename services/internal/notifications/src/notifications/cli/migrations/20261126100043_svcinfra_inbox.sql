-- The inbox of svcinfra.messaging: one row per message a consumer has processed, written in the
-- same transaction as the handler's effects, so a redelivered duplicate has no effect (MQ-3).
-- +goose Up
-- Fail fast instead of queueing behind a lock on a busy database (PG-2); SET LOCAL ends with
-- this migration's transaction, so the migrations after it run without these limits.
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';
CREATE TABLE svcinfra_inbox (
    consumer     text        NOT NULL,
    message_id   text        NOT NULL,
    message_name text        NOT NULL,
    result       jsonb,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
-- What the clean-up deletes (rows older than the longest redelivery window).
CREATE INDEX svcinfra_inbox_processed_at ON svcinfra_inbox (processed_at);

-- +goose Down
DROP TABLE svcinfra_inbox;

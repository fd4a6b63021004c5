-- The transactional outbox of svcinfra.messaging: a service writes its events here in the same
-- transaction as the change they announce; the relay publishes them with confirms, then marks
-- them sent. `id` is the message_id on the wire, so a re-publish is recognised downstream (MQ-3).
-- +goose Up
-- Fail fast instead of queueing behind a lock on a busy database (PG-2); SET LOCAL ends with
-- this migration's transaction, so the migrations after it run without these limits.
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';
CREATE TABLE svcinfra_outbox (
    id             uuid        PRIMARY KEY,
    message_name   text        NOT NULL,
    payload        jsonb       NOT NULL,
    correlation_id text,
    headers        jsonb       NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- publish attempts of one message, retried every few seconds: never near the int limit
    -- squawk-ignore prefer-bigint-over-int
    attempts       integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claimed_until  timestamptz,
    sent_at        timestamptz,
    last_error     text
);
-- What the relay claims: unsent rows, oldest first (a partial index stays small).
CREATE INDEX svcinfra_outbox_unsent ON svcinfra_outbox (created_at, id) WHERE sent_at IS NULL;
-- What the clean-up deletes.
CREATE INDEX svcinfra_outbox_sent_at ON svcinfra_outbox (sent_at) WHERE sent_at IS NOT NULL;

-- +goose Down
DROP TABLE svcinfra_outbox;

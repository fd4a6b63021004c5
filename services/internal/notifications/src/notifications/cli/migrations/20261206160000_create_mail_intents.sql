-- The intent to send each welcome email, written before the mail API is called (MQ-3, EX-3):
-- one row per causing event, `intended` until the delivery is recorded (then `sent`, in the
-- recording transaction). A redelivery that finds an `intended` row older than the mail API's
-- idempotency key lifetime cannot rely on the key's replay any more: it is dead-lettered for
-- reconciliation instead of sending a second email.
-- +goose Up
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';
CREATE TABLE mail_intents (
    source_message_id text        PRIMARY KEY CHECK (source_message_id <> ''),
    idempotency_key   text        NOT NULL CHECK (idempotency_key <> ''),
    state             text        NOT NULL DEFAULT 'intended' CHECK (state IN ('intended', 'sent')),
    intended_at       timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);

-- +goose Down
DROP TABLE mail_intents;

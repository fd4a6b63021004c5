-- Parking for the outbox relay (issue 16): a row whose publish keeps failing for a reason no
-- retry changes (its exchange removed, its payload invalid under a changed contract) is parked
-- after the relay's `max_failures` such attempts instead of being retried forever. An operator
-- sees it with `svcinfra outbox list|show` and sends it again (`retry`) or drops it (`purge`).
--
-- `status`: 'pending' (the relay sends it), 'sent', 'parked' (the relay leaves it alone).
-- Rows sent before this migration keep 'pending' with their `sent_at` until the relay's clean-up
-- deletes them: every query tells sent rows by `sent_at`, as before, so no backfill is needed.
-- +goose Up
-- Fail fast instead of queueing behind a lock on a busy database (PG-2).
SET LOCAL lock_timeout = '1s';
SET LOCAL statement_timeout = '5s';
-- A default and NULLs: no table rewrite, a short lock.
ALTER TABLE svcinfra_outbox
    ADD COLUMN status text NOT NULL DEFAULT 'pending',
    -- failed attempts of one row that no retry changes; parked at a handful
    -- squawk-ignore prefer-bigint-over-int
    ADD COLUMN failures integer NOT NULL DEFAULT 0,
    ADD COLUMN parked_at timestamptz;
-- Checked for new and updated rows at once; the existing rows hold the default.
ALTER TABLE svcinfra_outbox
    ADD CONSTRAINT svcinfra_outbox_status CHECK (status IN ('pending', 'sent', 'parked')) NOT VALID;
ALTER TABLE svcinfra_outbox
    ADD CONSTRAINT svcinfra_outbox_failures CHECK (failures >= 0) NOT VALID;

-- +goose Down
SET LOCAL lock_timeout = '1s';
ALTER TABLE svcinfra_outbox
    DROP CONSTRAINT svcinfra_outbox_failures,
    DROP CONSTRAINT svcinfra_outbox_status,
    DROP COLUMN parked_at,
    DROP COLUMN failures,
    DROP COLUMN status;

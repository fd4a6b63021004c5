-- +goose NO TRANSACTION
-- CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
-- +goose Up
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);

-- +goose Down
DROP INDEX CONCURRENTLY users_email_key;

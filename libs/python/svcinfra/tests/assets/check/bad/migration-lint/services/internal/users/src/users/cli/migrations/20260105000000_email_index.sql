-- +goose Up
SET lock_timeout = '1s';
SET statement_timeout = '5s';
CREATE INDEX users_email ON users (email);

-- +goose Down
DROP INDEX users_email;

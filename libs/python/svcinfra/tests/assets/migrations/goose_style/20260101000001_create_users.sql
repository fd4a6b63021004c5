-- Written the way goose users write them (goose's own README examples).
-- +goose Up
CREATE TABLE users (
    id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
    email text NOT NULL,   -- unique index comes later, concurrently
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO users (email, name) VALUES ('seed@example.com', 'seed; with a semicolon');

-- +goose Down
DROP TABLE users;

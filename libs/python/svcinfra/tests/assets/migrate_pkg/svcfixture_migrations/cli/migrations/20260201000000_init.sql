-- +goose Up
CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);

-- +goose Down
DROP TABLE notes;

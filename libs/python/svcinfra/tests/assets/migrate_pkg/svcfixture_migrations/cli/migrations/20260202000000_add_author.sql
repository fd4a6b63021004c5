-- +goose Up
ALTER TABLE notes ADD COLUMN author text;

-- +goose Down
ALTER TABLE notes DROP COLUMN author;

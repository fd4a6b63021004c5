-- irreversible: the old rows cannot be rebuilt
-- +goose Up
SELECT 1;

-- name: notes__create :one
-- A new note; the table's check constraint holds the domain's rule too (PG-1).
INSERT INTO notes (text)
VALUES ($1)
RETURNING id, text, created_at;

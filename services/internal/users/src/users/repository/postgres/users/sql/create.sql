-- name: users__create :one
-- Register a user; unique and check constraints reject what the domain would (PG-1).
INSERT INTO users (email, username, display_name)
VALUES ($1, $2, $3)
RETURNING id, email, username, display_name, created_at, updated_at;

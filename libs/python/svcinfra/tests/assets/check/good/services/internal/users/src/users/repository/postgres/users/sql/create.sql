-- name: users__create :one
INSERT INTO users (email) VALUES ($1) RETURNING id, email, created_at;

-- name: users__create :one
INSERT INTO users (team_id, username, email, status)
VALUES ($1, $2, $3, $4)
RETURNING id, team_id, username, email, status, created_at;

-- name: users__list :many
SELECT id, team_id, username, email, status, created_at FROM users ORDER BY id

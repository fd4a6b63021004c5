-- name: users__get_with_extra :one
SELECT id, team_id, username, email, status, created_at, 1 AS extra
FROM users
WHERE id = $1

-- name: users__get_by_id :one
-- One user by primary key.
SELECT id, team_id, username, email, status, created_at
FROM users
WHERE id = $1;

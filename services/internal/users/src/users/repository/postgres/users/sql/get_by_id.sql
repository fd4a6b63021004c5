-- name: users__get_by_id :one
SELECT id, email, username, display_name, created_at, updated_at
FROM users
WHERE id = $1;

-- name: users__get_by_username :one
SELECT id, email, username, display_name, created_at, updated_at
FROM users
WHERE username = $1;

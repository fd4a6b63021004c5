-- name: users_get_by_email :one
SELECT id FROM users WHERE email = $1;

-- name: users__update :one
-- A partial update: a NULL argument keeps the column as it is.
UPDATE users
SET email = coalesce($2, email),
    username = coalesce($3, username),
    display_name = coalesce($4, display_name),
    updated_at = now()
WHERE id = $1
RETURNING id, email, username, display_name, created_at, updated_at;

-- name: users__insert_null_email :exec
INSERT INTO users (username, email) VALUES ($1, NULL)

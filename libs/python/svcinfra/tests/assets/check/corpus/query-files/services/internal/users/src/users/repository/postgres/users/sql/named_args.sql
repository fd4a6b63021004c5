-- name: users__by_name :many
SELECT id FROM users WHERE name = :name;

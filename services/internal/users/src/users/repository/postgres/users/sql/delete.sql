-- name: users__delete :execrows
-- The affected row count tells a deleted user (1) from a missing one (0).
DELETE FROM users
WHERE id = $1;

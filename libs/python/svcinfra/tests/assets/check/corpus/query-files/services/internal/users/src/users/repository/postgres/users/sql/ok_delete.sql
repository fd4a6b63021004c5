-- name: users__delete_inactive :execrows
-- ok: execrows
DELETE FROM users WHERE NOT active AND created_at < $1;

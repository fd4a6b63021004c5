-- name: users__touch :exec
UPDATE users SET seen_at = now() WHERE id = $1;
DELETE FROM sessions WHERE user_id = $1;

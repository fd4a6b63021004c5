-- name: users__recent :many
-- ok: a CTE is one statement
WITH recent AS (SELECT id FROM users ORDER BY created_at DESC LIMIT $1) SELECT id FROM recent;

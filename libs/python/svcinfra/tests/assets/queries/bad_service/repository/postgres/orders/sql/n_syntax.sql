-- name: orders__syntax :one
-- A typo the server would only report on first use.
SELECT id
FORM orders WHERE id = $1

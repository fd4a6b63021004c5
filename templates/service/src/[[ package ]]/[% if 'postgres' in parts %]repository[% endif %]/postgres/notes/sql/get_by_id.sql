-- name: notes__get_by_id :one
SELECT id, text, created_at
FROM notes
WHERE id = $1;

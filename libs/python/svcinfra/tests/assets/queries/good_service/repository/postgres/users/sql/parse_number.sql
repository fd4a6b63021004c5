-- name: users__parse_number :one
SELECT $1::text::int AS n

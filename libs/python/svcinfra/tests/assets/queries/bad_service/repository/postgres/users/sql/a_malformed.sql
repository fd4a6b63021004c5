--name: users__malformed :one
SELECT 1

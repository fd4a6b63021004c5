-- name: users__result :execresult
DELETE FROM users

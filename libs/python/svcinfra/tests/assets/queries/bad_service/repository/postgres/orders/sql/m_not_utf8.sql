-- name: orders__latin1 :one
SELECT é

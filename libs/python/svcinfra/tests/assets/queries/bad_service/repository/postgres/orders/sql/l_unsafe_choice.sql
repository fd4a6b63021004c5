-- name: orders__choice :many
SELECT * FROM orders ORDER BY {{ sort: id | total => total; DROP TABLE orders }}

-- name: effects__by_message :many
SELECT message_id, count(*)::bigint AS n FROM effects GROUP BY message_id ORDER BY message_id

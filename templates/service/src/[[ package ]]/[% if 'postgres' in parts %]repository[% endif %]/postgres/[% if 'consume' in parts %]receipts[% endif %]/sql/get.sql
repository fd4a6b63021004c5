-- name: receipts__get :one
SELECT note_id, message_id, received_at
FROM receipts
WHERE note_id = $1;

-- name: receipts__add :exec
-- One receipt per note: a second message about the same note changes nothing.
INSERT INTO receipts (note_id, message_id)
VALUES ($1, $2)
ON CONFLICT (note_id) DO NOTHING;

-- name: inbox__seen_many :many
-- Which of the message ids $2 consumer $1 has recorded as processed (committed rows only): the
-- inbox check of external-mode messages that arrive together, in one statement.
SELECT message_id FROM svcinfra_inbox WHERE consumer = $1 AND message_id = ANY($2::text[])

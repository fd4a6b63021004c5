-- name: inbox__remove :exec
-- Takes back the row `inbox__add_batch` wrote for a message whose handler failed, inside the
-- batch's transaction: the message goes to a retry tier or the DLQ and must not count as done.
DELETE FROM svcinfra_inbox WHERE consumer = $1 AND message_id = $2

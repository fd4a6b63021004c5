-- name: inbox__rollback_savepoint :exec
-- A batched message's handler failed: undo its effects only (the latest savepoint of the name).
ROLLBACK TO SAVEPOINT svcinfra_inbox_message

-- name: inbox__savepoint :exec
-- Before a batched message's first statement: its handler's effects can be undone alone.
SAVEPOINT svcinfra_inbox_message

-- name: inbox__release_savepoint :exec
-- A batched message's handler returned: keep its effects. Fails when the handler swallowed a
-- database error (the transaction is aborted), which the consumer then treats as a failure.
RELEASE SAVEPOINT svcinfra_inbox_message

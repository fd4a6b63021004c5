-- name: session__listen :exec
LISTEN svcinfra_test

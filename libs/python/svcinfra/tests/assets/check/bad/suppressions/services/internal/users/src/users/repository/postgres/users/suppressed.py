"""Suppressions, good and bad."""

# svcinfra: ignore[PG-10] -- a fixture of the SQL linter test, never executed
FIXTURE = "SELECT id FROM users WHERE id = $1"
BARE = "SELECT email FROM users WHERE id = $1"  # svcinfra: ignore[sql-in-string]
UNKNOWN = 1  # svcinfra: ignore[XX-9] -- no such rule exists anywhere
STALE = 2  # svcinfra: ignore[PG-10] -- nothing on this line is SQL at all

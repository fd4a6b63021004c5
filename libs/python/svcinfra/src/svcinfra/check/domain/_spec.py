"""The spec's rule texts by ID (`shared/spec/infrastructure-requirements.md`), for reports.

Only the rules a checker rule refers to are here, plus the checker's own `CHK-n` rules.
"""

from __future__ import annotations

from typing import Final

SPEC: Final[dict[str, str]] = {
    "ARCH-1": "Infrastructure is a detail and must be encapsulated: the domain and service layers "
    "know nothing about drivers or SDKs.",
    "PG-2": "The schema changes only through migrations; migrations live in "
    "cmd/cli/migrations/*.sql (Python: <pkg>/cli/migrations/) and are run by goose.",
    "PG-3": "goose migrations: timestamp prefix in the file name; -- +goose Up / -- +goose Down "
    "sections.",
    "PG-6": "SQL only with placeholders (no string concatenation, no injection).",
    "PG-7": "SQL lives in the repository layer; the domain knows nothing about SQL, the driver or "
    "an ORM.",
    "PG-8": "Rows are mapped by helpers that map by column name, not by position.",
    "PG-9": "The Postgres repository implementation lives in repository/postgres/...; repository "
    "interfaces live in domain/repository/....",
    "PG-10": "No SQL as a string in application code: every query is in its own file "
    "repository/postgres/<model>/sql/*.sql, shipped inside the build artifact, with a "
    "-- name: <model>__<operation> :one|:many|:exec header.",
    "PG-12": "Anti-patterns: a shared DB without an owner; business logic in SQL; transactions "
    "around network calls.",
    "RD-2": "A default TTL is mandatory.",
    "RD-3": "Keys are prefixed <domain>:<entity>:<id> (e.g. user:profile:123).",
    "RD-4": "One serialization format: protobuf.",
    "RD-6": "Redis Pub/Sub is not used for critical tasks (RabbitMQ is).",
    "MQ-1": "Contract: every channel / message / version for RabbitMQ is described in AsyncAPI "
    "YAML at api/server/asyncapi.yaml (AMQP bindings: exchange / queue / routingKey).",
    "MQ-2": "A message is an event or a task with an explicit schema and version.",
    "MQ-10": "A DLQ is mandatory for important queues; the failure reason is kept.",
    "CF-2": "Secrets are never hard-coded or committed.",
    "CF-4": "A service with several DBs / caches in one cluster uses env prefixes to isolate "
    "secrets: the service sets ENV_PREFIX (e.g. USERS_).",
    "CF-6": "One Config structure; validated at start-up (fail fast); defaults only where safe.",
    "EX-1": "Each external API is a separate client / adapter (infrastructure layer).",
    "EX-2": "Timeouts are mandatory.",
    "CI-1": "Every service has a Dockerfile and a reproducible build.",
    "CI-2": "Image tags are versioned (commit sha / semver / release).",
    "CI-3": "services.yaml is the source of truth for what is deployed where.",
    "CI-6": "services/dev/* is never included in prod.",
    "CHK-1": "A finding is silenced only by a comment naming the rule and a reason: "
    "`# svcinfra: ignore[RULE] -- reason`.",
    "CHK-2": "A suppression that silences nothing is stale and should be removed.",
    "CHK-3": "Every file the checker reads must parse; a file it cannot read hides findings.",
}


def spec_text(rule: str) -> str:
    """Return the text of `rule`, or an empty string for an ID the spec does not state."""
    return SPEC.get(rule, "")

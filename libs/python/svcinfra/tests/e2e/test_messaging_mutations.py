"""One-change variants of a valid contract, judged by the official parser and by svcinfra (MQ-1).

`variants()` derives each variant from the notifications service's contract by one change: a
string that breaks a format, a channel rule of the official parser's AsyncAPI 3 ruleset
(`asyncapi3-*`), a YAML 1.1 / 1.2 difference, a duplicate key, an escaped JSON pointer, a broken
regular expression, a project rule. Every variant goes through `@asyncapi/parser` (all of them
in one node process) and through `parse_document` + `check_document`. The verdicts must agree,
except where a documented project rule rejects on purpose: such a variant names the rule, the
official parser must accept it, and svcinfra must reject it citing that rule. svcinfra never
raises on a variant: every malformed input is a problem at a JSON path.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from svcinfra.messaging.contract._loader import check_document, parse_document

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[5]
TOOL = ROOT / "tools" / "asyncapi-parser"
BASE = ROOT / "services/internal/notifications/src/notifications/api/server/asyncapi.yaml"
SETUP = "run `make parser` (npm ci in tools/asyncapi-parser)"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Variant:
    """One change to the base contract.

    Attributes:
        name: what changed, unique.
        text: the whole variant document.
        rule: the project rule that rejects it on purpose (the official parser accepts it), or
            None when both must reach the same verdict.
    """

    name: str
    text: str
    rule: str | None = None


def _base_text() -> str:
    return BASE.read_text(encoding="utf-8")


def _edited(name: str, change: Callable[[Doc], None], rule: str | None = None) -> Variant:
    """A variant made by changing the parsed base document (written back as JSON, YAML 1.2)."""
    document = copy.deepcopy(yaml.safe_load(_base_text()))
    change(document)
    return Variant(name, json.dumps(document, indent=1), rule)


def _replaced(name: str, old: str, new: str, rule: str | None = None) -> Variant:
    """A variant made by replacing text of the base YAML once (for what JSON cannot express)."""
    text = _base_text()
    assert text.count(old) == 1, f"{name}: {old!r} is not unique in the base contract"
    return Variant(name, text.replace(old, new), rule)


def _set(path: str, value: object) -> Callable[[Doc], None]:
    """A change setting `value` at a dotted path (`info.contact.email`), creating mappings."""

    def change(document: Doc) -> None:
        *parents, last = path.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return change


def _delete(path: str) -> Callable[[Doc], None]:
    def change(document: Doc) -> None:
        *parents, last = path.split(".")
        node = document
        for part in parents:
            node = node[part]
        del node[last]

    return change


def _all(*changes: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def change(document: Doc) -> None:
        for one in changes:
            one(document)

    return change


REGISTERED = "userRegisteredV1"
SENT = "channels.notificationSentV1"
QUEUE = "channels.userRegisteredQueue"
CONSUME = "operations.consumeUserRegisteredV1"
PUBLISH = "operations.publishNotificationSentV1"
SENT_MESSAGE = "components.messages.NotificationSentV1"
SENT_PAYLOAD = "components.schemas.NotificationSentV1Payload"
SERVERS = {"prod": {"host": "rabbitmq.example.com:5672", "protocol": "amqp"}}


def _servers_ref(ref: str, *, where: str = "servers") -> Callable[[Doc], None]:
    return _all(_set(where, SERVERS), _set(f"{SENT}.servers", [{"$ref": ref}]))


def _renamed_payload(key: str, ref: str) -> Callable[[Doc], None]:
    """Move the sent message's payload schema to `key` and reference it as `ref`."""

    def change(document: Doc) -> None:
        schemas = document["components"]["schemas"]
        schemas[key] = schemas.pop("NotificationSentV1Payload")
        document["components"]["messages"]["NotificationSentV1"]["payload"] = {"$ref": ref}

    return change


def _renamed_channel(key: str) -> Callable[[Doc], None]:
    """Rename the sent channel's key to `key`, and its operation's references with it."""

    def change(document: Doc) -> None:
        document["channels"][key] = document["channels"].pop("notificationSentV1")
        operation = document["operations"]["publishNotificationSentV1"]
        operation["channel"] = {"$ref": f"#/channels/{key}"}
        operation["messages"] = [{"$ref": f"#/channels/{key}/messages/notificationSentV1"}]

    return change


def variants() -> list[Variant]:  # noqa: PLR0915  (one line per variant reads best)
    """Every variant of the base contract, each one change away from it."""
    out = [Variant("unchanged", _base_text())]
    add = out.append
    # String formats of the AsyncAPI schema (ajv-formats in the official parser).
    contact = {"name": "team", "url": "https://team.example.com", "email": "team@example.com"}
    add(_edited("valid contact, license, terms, id, tags", _all(
        _set("info.contact", contact),
        _set("info.license", {"name": "MIT", "url": "https://opensource.org/licenses/MIT"}),
        _set("info.termsOfService", "https://example.com/terms"),
        _set("id", "urn:example:notifications"),
        _set("info.tags", [{"name": "mail", "externalDocs": {"url": "https://example.com/t"}}]),
        _set("info.externalDocs", {"url": "https://example.com/docs"}),
    )))  # fmt: skip
    add(_edited("contact.email not an email", _set("info.contact", {**contact, "email": "team"})))
    add(_edited("contact.url not a uri", _set("info.contact", {**contact, "url": "team site"})))
    add(_edited("license.url not a uri", _set("info.license", {"name": "MIT", "url": "mit"})))
    add(_edited("termsOfService not a uri", _set("info.termsOfService", "see the wiki")))
    add(_edited("id not a uri", _set("id", "notifications service")))
    add(_edited("tags[].externalDocs.url not a uri", _set(
        "info.tags", [{"name": "mail", "externalDocs": {"url": "not a url"}}])))  # fmt: skip
    add(_edited("externalDocs.url not a uri", _set("info.externalDocs", {"url": "docs page"})))
    add(_edited("contact.email with a space", _set(
        "info.contact", {**contact, "email": "team @example.com"})))  # fmt: skip
    # asyncapi3-channel-parameters
    add(_edited("channel parameter not in the address", _set(
        f"{SENT}.parameters", {"userId": {"description": "the user"}})))  # fmt: skip
    add(_edited("channel address parameter not described", _set(
        f"{SENT}.address", "notification.{kind}.sent.v1")))  # fmt: skip
    # asyncapi3-required-channel-servers-unambiguity and asyncapi3-channel-servers
    add(_edited("channel servers from #/servers", _servers_ref("#/servers/prod")))
    add(_edited("channel servers from #/components/servers", _servers_ref(
        "#/components/servers/prod", where="components.servers")))  # fmt: skip
    add(_edited("channel servers to a missing server", _all(
        _set("servers", SERVERS),
        _set(f"{SENT}.servers", [{"$ref": "#/servers/dev"}]))))  # fmt: skip
    # asyncapi3-channel-no-query-nor-fragment
    add(_edited("channel address with a query", _set(f"{SENT}.address", "notification.sent?a.v1")))
    add(
        _edited(
            "channel address with a fragment", _set(f"{SENT}.address", "notification.sent#a.v1")
        )
    )
    # asyncapi3-operation-messages-from-referred-channel, ...-operation-channel-unambiguity
    add(_edited("operation message of another channel", _set(f"{PUBLISH}.messages", [
        {"$ref": "#/channels/userRegisteredV1/messages/userRegisteredV1"}])))  # fmt: skip
    add(_edited("operation message from components", _set(f"{PUBLISH}.messages", [
        {"$ref": "#/components/messages/NotificationSentV1"}])))  # fmt: skip
    # YAML: duplicate keys, YAML 1.2 scalars, keys that are not strings
    add(_replaced("duplicate key", "  title: notifications service\n",
                  "  title: notifications service\n  title: other\n"))  # fmt: skip
    add(_replaced("duplicate key in a flow mapping", "{maxAttempts: 4, backoff",
                  "{maxAttempts: 4, maxAttempts: 5, backoff"))  # fmt: skip
    add(_replaced("unquoted on: key under components.schemas", "  schemas:\n",
                  "  schemas:\n    on: {type: string}\n"))  # fmt: skip
    add(_replaced("404: key under components.schemas", "  schemas:\n",
                  "  schemas:\n    404: {type: string}\n"))  # fmt: skip
    add(_replaced("yes: and true: keys", "  schemas:\n",
                  "  schemas:\n    yes: {type: string}\n    true: {type: string}\n"))  # fmt: skip
    add(_replaced("info.version a YAML 1.1 date", "version: 1.0.0", "version: 2024-01-01"))
    add(_replaced("info.version yes", "version: 1.0.0", "version: yes"))
    add(_replaced("info.version a float", "version: 1.0.0", "version: 1.0"))
    add(_replaced("info.version an octal", "version: 1.0.0", "version: 0o17"))
    add(_replaced("info.version null", "version: 1.0.0", "version: ~"))
    add(_replaced("info.version quoted", "version: 1.0.0", "version: '1.0'"))
    add(
        _replaced(
            "anchor and alias",
            "  description: Sends",
            "  x-note: &note x\n  x-again: *note\n  description: Sends",
        )
    )
    add(_replaced("unknown tag", "version: 1.0.0", "version: !custom 1.0.0"))
    add(_replaced("YAML syntax error", "  title: notifications service\n", "  title: [oops\n"))
    add(Variant("a YAML list, not a mapping", "- asyncapi: 3.0.0\n"))
    add(Variant("an empty document", ""))
    add(Variant("the contract as JSON", json.dumps(yaml.safe_load(_base_text()))))
    # JSON pointers (RFC 6901) in URI fragments
    add(_edited("$ref percent-encoded", _renamed_payload(
        "Sent Payload", "#/components/schemas/Sent%20Payload")))  # fmt: skip
    add(
        _edited(
            "$ref with ~1", _renamed_payload("sent/payload", "#/components/schemas/sent~1payload")
        )
    )
    add(
        _edited(
            "$ref with ~0", _renamed_payload("sent~payload", "#/components/schemas/sent~0payload")
        )
    )
    add(
        _edited(
            "$ref to nothing", _set(f"{SENT_MESSAGE}.payload", {"$ref": "#/components/schemas/X"})
        )
    )
    add(_edited("$ref to another file", _set(f"{SENT_MESSAGE}.payload", {"$ref": "x.yaml#/X"})))
    # Payload schemas (JSON Schema draft 7 inside AsyncAPI)
    add(
        _edited(
            "payload pattern not a regex",
            _set(f"{SENT_PAYLOAD}.properties.kind.pattern", "("),
            "MQ-2",
        )
    )
    add(
        _edited(
            "payload pattern valid", _set(f"{SENT_PAYLOAD}.properties.kind.pattern", "^[a-z]+$")
        )
    )
    add(_edited("payload type misspelt", _set(f"{SENT_PAYLOAD}.properties.kind.type", "strin")))
    add(_edited("payload required not a list", _set(f"{SENT_PAYLOAD}.required", "email")))
    add(
        _edited("payload minLength negative", _set(f"{SENT_PAYLOAD}.properties.kind.minLength", -1))
    )
    add(_edited("payload unknown format", _set(f"{SENT_PAYLOAD}.properties.kind.format", "kind")))
    # The AsyncAPI schema's other constraints
    add(_edited("asyncapi 2.6.0", _set("asyncapi", "2.6.0")))
    add(_edited("asyncapi not a string", _set("asyncapi", 3)))
    add(_edited("info.title missing", _delete("info.title")))
    add(_edited("info.version missing", _delete("info.version")))
    add(_edited("an unknown root key", _set("foo", 1)))
    add(_edited("a root extension", _set("x-team", "mail")))
    add(_edited("description not a string", _set(f"{SENT}.description", 123)))
    add(_edited("operation action publish", _set(f"{PUBLISH}.action", "publish")))
    add(_edited("operation without channel", _delete(f"{PUBLISH}.channel")))
    add(
        _edited(
            "operation channel to nothing", _set(f"{PUBLISH}.channel", {"$ref": "#/channels/x"})
        )
    )
    add(_edited("channel message to nothing", _set(
        f"{SENT}.messages.notificationSentV1", {"$ref": "#/components/messages/X"})))  # fmt: skip
    add(_edited("correlationId location invalid", _set(
        f"{SENT_MESSAGE}.correlationId", {"location": "the header"})))  # fmt: skip
    add(_edited("correlationId location valid", _set(
        f"{SENT_MESSAGE}.correlationId",
        {"location": "$message.header#/correlation_id"})))  # fmt: skip
    add(
        _edited("an unused schema component", _set("components.schemas.Unused", {"type": "string"}))
    )
    add(_edited("duplicate tag names", _set("info.tags", [{"name": "a"}, {"name": "a"}])))
    add(_edited("server host with a variable", _set("servers", {
        "prod": {"host": "{host}:5672", "protocol": "amqp"}})))  # fmt: skip
    add(_edited("amqp binding exchange type unknown", _set(
        f"{SENT}.bindings.amqp.exchange.type", "fan")))  # fmt: skip
    # References to the wrong kind of thing, and extensions of the wrong shape: a problem each
    add(_edited("channel message $ref to a string", _set(
        f"{SENT}.messages.notificationSentV1", {"$ref": "#/info/title"})))  # fmt: skip
    add(_edited("operation channel $ref to a message", _set(
        f"{PUBLISH}.channel", {"$ref": "#/components/messages/NotificationSentV1"})))  # fmt: skip
    add(
        _edited(
            "payload $ref to a string", _set(f"{SENT_MESSAGE}.payload", {"$ref": "#/info/title"})
        )
    )
    add(
        _edited(
            "payload $ref to the whole document", _set(f"{SENT_MESSAGE}.payload", {"$ref": "#"})
        )
    )
    add(_edited("$ref with a bad percent escape", _set(
        f"{SENT_MESSAGE}.payload", {"$ref": "#/components/schemas/%ZZ"})))  # fmt: skip
    add(_edited("$ref with an unencoded space", _renamed_payload(
        "Sent Payload", "#/components/schemas/Sent Payload")))  # fmt: skip
    add(_edited("channel key with a query", _renamed_channel("sent?V1")))
    add(_edited("channel key with a fragment", _renamed_channel("sent#V1")))
    add(_edited("channel key with a space", _renamed_channel("sent V1")))
    add(_edited("channel parameters matching the address", _all(
        _set(f"{SENT}.address", "notification.{kind}.v1"),
        _set(f"{SENT}.parameters", {"kind": {"enum": ["sent"]}}))))  # fmt: skip
    add(_edited("channel parameters empty, address with one", _all(
        _set(f"{SENT}.address", "notification.{kind}.v1"),
        _set(f"{SENT}.parameters", {}))))  # fmt: skip
    add(_replaced("null key under components.schemas", "  schemas:\n",
                  "  schemas:\n    ~: {type: string}\n"))  # fmt: skip
    add(_replaced("an alias inside its own anchor", "  description: Sends",
                  "  x-loop: &loop [*loop]\n  description: Sends", "MQ-1"))  # fmt: skip
    add(_replaced("a merge key", "  schemas:\n",
                  "  schemas:\n    Base: &base {type: string}\n"
                  "    Merged: {<<: *base, minLength: 1}\n"))  # fmt: skip
    add(
        _replaced(
            "two YAML documents", "asyncapi: 3.0.0\n", "asyncapi: 3.0.0\n---\nasyncapi: 3.0.0\n"
        )
    )
    add(Variant("JSON with a duplicate key", '{"asyncapi": "3.0.0", "asyncapi": "3.0.0"}'))
    add(_replaced("a tab for indentation", "  title: notifications service\n",
                  "\ttitle: notifications service\n"))  # fmt: skip
    add(_replaced("durable: no (a string in YAML 1.2)",
                  "name: notifications.user-registered, durable: true",
                  "name: notifications.user-registered, durable: no"))  # fmt: skip
    other = {"$ref": f"#/channels/{REGISTERED}/messages/{REGISTERED}"}
    add(_edited("components.operations message of another channel", _set(
        "components.operations", {"op": {
            "action": "send", "channel": {"$ref": "#/channels/notificationSentV1"},
            "messages": [other]}})))  # fmt: skip
    # Project rules: the official parser accepts these, svcinfra refuses them on purpose.
    add(_edited("x-retry not a mapping", _set(f"{CONSUME}.x-retry", 3), "MQ-9"))
    add(_edited("x-dead-letter not a reference", _set(f"{CONSUME}.x-dead-letter", "dlq"), "MQ-10"))
    add(
        _edited(
            "x-amqp-bindings not a list", _set(f"{QUEUE}.x-amqp-bindings", "users.events"), "MQ-1"
        )
    )
    add(
        _edited(
            "x-amqp-queue-arguments a list", _set(f"{QUEUE}.x-amqp-queue-arguments", ["a"]), "MQ-1"
        )
    )
    add(_replaced("x-publisher-confirms: off (a string in YAML 1.2)", "x-publisher-confirms: true",
                  "x-publisher-confirms: off", "MQ-5"))  # fmt: skip
    add(_edited("operation with no messages", _set(f"{PUBLISH}.messages", []), "MQ-1"))
    add(_edited("default content type XML", _set("defaultContentType", "application/xml")))
    add(_edited("message without a payload", _delete(f"{SENT_MESSAGE}.payload"), "MQ-2"))
    add(_edited("exchange channel without an address", _set(f"{SENT}.address", None), "MQ-1"))
    add(_edited("queue address not the queue name", _set(f"{QUEUE}.address", "other"), "MQ-1"))
    add(_edited("binding routing key matching nothing", _set(
        f"{QUEUE}.x-amqp-bindings",
        [{"exchange": "users.events", "routingKey": "x.v1"}]), "MQ-1"))  # fmt: skip
    add(_edited("DLQ is the consumed queue", _set(
        f"{CONSUME}.x-dead-letter",
        {"$ref": "#/channels/userRegisteredQueue"}), "MQ-10"))  # fmt: skip
    add(
        _edited(
            "message name without a version",
            _set(f"{SENT_MESSAGE}.name", "notification.sent"),
            "MQ-2",
        )
    )
    add(
        _edited(
            "message content type XML",
            _set(f"{SENT_MESSAGE}.contentType", "application/xml"),
            "MQ-2",
        )
    )
    add(
        _edited(
            "routing key without the version", _set(f"{SENT}.address", "notification.sent"), "MQ-2"
        )
    )
    add(_edited("queue not durable", _set(f"{QUEUE}.bindings.amqp.queue.durable", False), "MQ-10"))  # noqa: FBT003
    add(_edited("receive without a DLQ", _delete(f"{CONSUME}.x-dead-letter"), "MQ-10"))
    add(_edited("publisher confirms off", _set(f"{PUBLISH}.x-publisher-confirms", False), "MQ-5"))  # noqa: FBT003
    add(_edited("retry without delays", _set(f"{CONSUME}.x-retry.backoff", []), "MQ-9"))
    add(_edited("channel without an amqp binding", _delete(f"{SENT}.bindings"), "MQ-1"))
    add(_edited("asyncapi 3.1.0", _set("asyncapi", "3.1.0"), "MQ-1"))
    return out


def _official(variants: list[Variant], folder: Path) -> dict[str, list[str]]:
    """The official parser's errors for each variant.

    A parse costs the official parser about half a second of CPU after a second of start-up, so
    the variants go to a few node processes (one per core, at most four) running side by side.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH; install Node 20 and {SETUP}", pytrace=False)
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"@asyncapi/parser is not installed: {SETUP}", pytrace=False)
    files = {}
    for index, variant in enumerate(variants):
        path = folder / f"{index:03d}.yaml"
        path.write_text(variant.text, encoding="utf-8")
        files[str(path)] = variant.name
    workers = max(1, min(4, os.cpu_count() or 1))
    names = list(files)
    processes = [
        subprocess.Popen(
            [node, str(TOOL / "validate.mjs"), *names[start::workers]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=TOOL,
        )
        for start in range(workers)
    ]
    lines, errors = [], []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=540)
            lines += [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
            errors.append(stderr)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert len(lines) == len(files), errors
    return {files[line["file"]]: line["errors"] for line in lines}


def _ours(text: str) -> list[str]:
    """svcinfra's problems for a document text (empty: a valid contract)."""
    document, problems = parse_document(text)
    if document is not None:
        _, problems = check_document(document, "variant")
    return [str(problem) for problem in problems]


def test_the_generator_makes_enough_distinct_variants() -> None:
    """At least 50 one-change variants, all different, with unique names."""
    made = variants()
    assert len(made) >= 50
    assert len({v.name for v in made}) == len(made)
    assert len({v.text for v in made}) == len(made)


@pytest.mark.timeout(600)  # ~0.5 s of CPU a variant in the official parser; slower when busy
def test_svcinfra_and_the_official_parser_agree_on_every_variant(tmp_path: Path) -> None:
    """Same verdict, or a named project rule that svcinfra cites and the official parser lacks."""
    made = variants()
    official = _official(made, tmp_path)
    disagreements = {}
    for variant in made:
        ours = _ours(variant.text)
        theirs = official[variant.name]
        if variant.rule is None:
            if bool(ours) != bool(theirs):
                disagreements[variant.name] = {"ours": ours, "official": theirs}
        elif theirs or not any(problem.endswith(f"[{variant.rule}]") for problem in ours):
            disagreements[variant.name] = {"rule": variant.rule, "ours": ours, "official": theirs}
    assert disagreements == {}

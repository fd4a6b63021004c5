"""Semantic rules of a contract, checked while it is turned into a `Contract` (MQ-1, MQ-2, MQ-10).

The official schema cannot say that a message has a version, that a consumed queue has a DLQ, or
that a queue's bindings deliver the messages it claims. These checks do, on a document that
already passed the schema. The `x-` extensions read here (see `svcinfra.messaging.contract`):

* channel, `is: queue`: `x-amqp-bindings: [{exchange, routingKey}]`, `x-amqp-queue-arguments`;
* operation, `receive`: `x-retry: {maxAttempts, backoff: [1s, 10s]}`, `x-dead-letter: {$ref}`;
* operation, `send`: `x-publisher-confirms` (must not be false).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from svcinfra.messaging._errors import ContractProblem

from ._fastcheck import compile_check
from ._model import (
    Contract,
    ExchangeSpec,
    MessageSpec,
    PayloadValidator,
    QueueBinding,
    QueueSpec,
)
from ._names import MessageName, topic_matches, version_suffix
from ._operations import OperationRules
from ._paths import deref, iter_refs, json_path, pointer_parts, pointer_ref, resolve

CONTRACT_URI = "urn:svcinfra:asyncapi-contract"
JSON_CONTENT_TYPES = frozenset({"application/json"})
# Arguments the topology derives from `x-dead-letter`; a contract setting them would fight it.
DERIVED_ARGUMENTS = frozenset({"x-dead-letter-exchange", "x-dead-letter-routing-key"})

Json = Mapping[str, Any]
# Every format jsonschema can check (uuid, email, ...), not only draft 7's: contracts use uuid.
_FORMATS = FormatChecker()


class _Builder(OperationRules):
    """Reads a schema-valid document into a Contract, collecting every broken rule."""

    def __init__(self, document: Json, source: str) -> None:
        self.doc = document
        self.source = source
        self.problems: list[ContractProblem] = []
        self.messages: dict[str, MessageSpec] = {}
        self.message_at: dict[tuple[str, ...], str] = {}  # message pointer's keys -> name
        self.exchanges: dict[str, ExchangeSpec] = {}
        self.exchange_channels: dict[str, tuple[ExchangeSpec, str]] = {}  # channel -> (ex, key)
        self.queues: dict[str, QueueSpec] = {}
        self.queue_channels: dict[str, QueueSpec] = {}
        self.patterns_seen: set[tuple[str, ...]] = set()  # `$ref` targets checked for patterns

    def problem(self, path: str, message: str, rule: str) -> None:
        self.problems.append(ContractProblem(path, message, rule))

    def build(self) -> Contract | None:
        self.check_refs()
        if self.problems:
            return None
        self.read_messages()
        self.read_channels()
        publications = self.read_sends()
        consumptions = self.read_receives()
        self.check_bindings()
        if self.problems:
            return None
        info = self.doc.get("info", {})
        return Contract(
            source=self.source,
            title=str(info.get("title", "")),
            version=str(info.get("version", "")),
            messages=dict(self.messages),
            exchanges=dict(self.exchanges),
            queues=dict(self.queues),
            publications=publications,
            consumptions=tuple(consumptions),
            document=self.doc,
            validators=self.compile_validators(),
        )

    def check_refs(self) -> None:
        """Every `$ref` is local and points at something (MQ-1)."""
        self.problems += reference_problems(self.doc)

    def read_messages(self) -> None:
        """Every message has a versioned name, a JSON content type and a payload (MQ-2)."""
        components = self.doc.get("components", {}).get("messages", {})
        for key, raw in components.items():
            self.read_message(raw, ("components", "messages", key), key)
        for channel_id, channel in self.doc.get("channels", {}).items():
            for key, raw in channel.get("messages", {}).items():
                if "$ref" not in raw:  # an inline message, defined only here
                    self.read_message(raw, ("channels", channel_id, "messages", key), key)

    def read_message(self, raw: Json, path: tuple[str, ...], key: str) -> None:
        message = deref(self.doc, raw)
        where = json_path(*path)
        if not isinstance(message, Mapping):
            self.problem(where, "is not a message object", "MQ-1")
            return
        name_text = message.get("name")
        if not isinstance(name_text, str):
            self.problem(
                where,
                "has no `name`; a message is named with its version, e.g. 'user.registered.v1'",
                "MQ-2",
            )
            return
        try:
            name = MessageName.parse(name_text)
        except ValueError as exc:
            self.problem(json_path(*path, "name"), str(exc), "MQ-2")
            return
        if name_text in self.messages:
            other = self.messages[name_text].component
            self.problem(
                json_path(*path, "name"),
                f"{name_text!r} also names message {other!r}; one component per message version",
                "MQ-2",
            )
            return
        payload = message.get("payload")
        if not isinstance(payload, Mapping):
            self.problem(where, f"{name_text} has no payload schema", "MQ-2")
            return
        if "schemaFormat" in payload:
            self.problem(
                json_path(*path, "payload"),
                "use a plain JSON schema payload, not a multi-format schema",
                "MQ-2",
            )
            return
        content_type = message.get("contentType", self.doc.get("defaultContentType"))
        if content_type is not None and content_type not in JSON_CONTENT_TYPES:
            self.problem(
                json_path(*path, "contentType"),
                f"{content_type!r}: messages are JSON ('application/json')",
                "MQ-2",
            )
        message_type = message.get("bindings", {}).get("amqp", {}).get("messageType")
        if message_type is not None and message_type != name_text:
            self.problem(
                json_path(*path, "bindings", "amqp", "messageType"),
                f"{message_type!r} differs from the name {name_text!r}, which is the AMQP type",
                "MQ-2",
            )
        self.messages[name_text] = MessageSpec(
            name=name_text, base=name.base, version=name.version, component=key, payload=payload
        )
        self.message_at[path] = name_text
        self.check_patterns(payload, (*path, "payload"))

    def check_patterns(self, schema: object, path: tuple[str | int, ...]) -> None:
        """Every `pattern` of a payload schema compiles: payloads are validated with it (MQ-2).

        The official parser does not check them; a pattern Python cannot compile would fail
        every publish of the message, so the contract is refused here instead. Local `$ref`s
        are followed (each target once); the problem is reported where the pattern is written.
        """
        pending: list[tuple[object, tuple[str | int, ...]]] = [(schema, path)]
        while pending:
            node, where = pending.pop()
            if isinstance(node, list):
                pending += [(value, (*where, index)) for index, value in enumerate(node)]
                continue
            if not isinstance(node, Mapping):
                continue
            ref = node.get("$ref")
            parts = pointer_parts(ref) if isinstance(ref, str) else None
            if parts is not None and parts not in self.patterns_seen:
                self.patterns_seen.add(parts)
                pending.append((resolve(self.doc, ref), parts))  # type: ignore[arg-type]
            written = [((*where, "pattern"), node.get("pattern"))]
            if isinstance(node.get("patternProperties"), Mapping):
                written += [
                    ((*where, "patternProperties", k), k) for k in node["patternProperties"]
                ]
            for at, pattern in written:
                if isinstance(pattern, str):
                    try:
                        re.compile(pattern)
                    except re.error as exc:
                        self.problem(
                            json_path(*at),
                            f"{pattern!r} is not a regular expression: {exc}",
                            "MQ-2",
                        )
            pending += [
                (value, (*where, str(key)))
                for key, value in node.items()
                if key not in {"$ref", "enum", "const", "default", "examples"}
            ]

    def message_name(self, raw: Json) -> str | None:
        """Return the name of a channel's message entry (a `$ref` or inline)."""
        ref = raw.get("$ref")
        target = pointer_parts(ref) if isinstance(ref, str) else None
        for _ in range(32):
            if target is None or target in self.message_at:
                break
            nxt = resolve(self.doc, pointer_ref(target))
            ref = nxt.get("$ref") if isinstance(nxt, Mapping) else None
            target = pointer_parts(ref) if isinstance(ref, str) else None
        if target is not None and target in self.message_at:
            return self.message_at[target]
        name = raw.get("name")
        return name if isinstance(name, str) and name in self.messages else None

    def channel_messages(self, channel_id: str) -> dict[str, str]:
        """Return the channel's message keys mapped to message names."""
        channel = self.doc["channels"][channel_id]
        names = {}
        for key, raw in channel.get("messages", {}).items():
            name = self.message_name(raw)
            if name is not None:
                names[key] = name
        return names

    def read_channels(self) -> None:
        for channel_id, channel in self.doc.get("channels", {}).items():
            amqp = channel.get("bindings", {}).get("amqp")
            path = ("channels", channel_id)
            if not isinstance(amqp, Mapping):
                self.problem(
                    json_path(*path, "bindings"), "has no amqp binding (exchange or queue)", "MQ-1"
                )
                continue
            if amqp.get("is", "routingKey") == "queue":
                self.read_queue_channel(channel_id, channel, amqp.get("queue", {}))
            else:
                self.read_exchange_channel(channel_id, channel, amqp.get("exchange", {}))

    def read_exchange_channel(self, channel_id: str, channel: Json, raw: Json) -> None:
        path = ("channels", channel_id)
        name = raw.get("name")
        routing_key = channel.get("address")
        if not isinstance(name, str) or not name:
            self.problem(
                json_path(*path, "bindings", "amqp", "exchange"), "names no exchange", "MQ-1"
            )
            return
        if not isinstance(routing_key, str):
            self.problem(json_path(*path), "has no address (the routing key)", "MQ-1")
            return
        exchange = ExchangeSpec(
            name=name,
            type=raw.get("type", "topic"),
            durable=raw.get("durable", True),
            auto_delete=raw.get("autoDelete", False),
        )
        known = self.exchanges.setdefault(name, exchange)
        if known != exchange:
            self.problem(
                json_path(*path, "bindings", "amqp", "exchange"),
                f"exchange {name!r} is described differently by another channel",
                "MQ-1",
            )
        self.exchange_channels[channel_id] = (exchange, routing_key)
        version = version_suffix(routing_key)
        for key, message in self.channel_messages(channel_id).items():
            spec = self.messages[message]
            if version != spec.version:
                self.problem(
                    json_path(*path, "address"),
                    f"routing key {routing_key!r} must "
                    f"end in '.v{spec.version}', the version of {message} (messages "
                    f"key {key!r})",
                    "MQ-2",
                )

    def read_queue_channel(self, channel_id: str, channel: Json, raw: Json) -> None:
        path = ("channels", channel_id)
        name = raw.get("name", channel.get("address"))
        if not isinstance(name, str) or not name:
            self.problem(json_path(*path), "names no queue", "MQ-1")
            return
        if channel.get("address") not in {None, name}:
            self.problem(json_path(*path, "address"), f"must equal the queue name {name!r}", "MQ-1")
        raw_arguments = channel.get("x-amqp-queue-arguments", {})
        if not isinstance(raw_arguments, Mapping):
            self.problem(
                json_path(*path, "x-amqp-queue-arguments"),
                "must be a mapping of queue arguments ({x-queue-type: quorum})",
                "MQ-1",
            )
            raw_arguments = {}
        arguments = dict(raw_arguments)
        for argument in sorted(DERIVED_ARGUMENTS & arguments.keys()):
            self.problem(
                json_path(*path, "x-amqp-queue-arguments", argument),
                "is derived from the receive operation's x-dead-letter; remove it",
                "MQ-10",
            )
        bindings = []
        for index, raw_binding in enumerate(channel.get("x-amqp-bindings", [])):
            where = json_path(*path, "x-amqp-bindings", index)
            if not (
                isinstance(raw_binding, Mapping)
                and isinstance(raw_binding.get("exchange"), str)
                and isinstance(raw_binding.get("routingKey"), str)
            ):
                self.problem(where, "must be {exchange: NAME, routingKey: KEY}", "MQ-1")
                continue
            bindings.append(QueueBinding(raw_binding["exchange"], raw_binding["routingKey"]))
        queue = QueueSpec(
            name=name,
            channel=channel_id,
            durable=raw.get("durable", True),
            exclusive=raw.get("exclusive", False),
            auto_delete=raw.get("autoDelete", False),
            arguments=arguments,
            bindings=tuple(bindings),
        )
        if not queue.durable or queue.auto_delete or queue.exclusive:
            self.problem(
                json_path(*path, "bindings", "amqp", "queue"),
                "must be durable, not exclusive, not auto-deleted: messages outlive a consumer",
                "MQ-10",
            )
        if name in self.queues:
            self.problem(json_path(*path), f"queue {name!r} is described twice", "MQ-1")
        self.queues[name] = queue
        self.queue_channels[channel_id] = queue

    def check_bindings(self) -> None:
        """A queue's bindings exist and deliver every message the queue claims (routing keys)."""
        for channel_id, queue in self.queue_channels.items():
            path = ("channels", channel_id)
            sources: list[tuple[str, str]] = []  # (message name, how it arrives)
            for index, binding in enumerate(queue.bindings):
                where = json_path(*path, "x-amqp-bindings", index)
                exchange = self.exchanges.get(binding.exchange)
                if exchange is None:
                    self.problem(
                        f"{where}.exchange",
                        f"exchange {binding.exchange!r} is not "
                        "described by any channel of this contract",
                        "MQ-1",
                    )
                    continue
                matched = [
                    (channel, key)
                    for channel, (ex, key) in self.exchange_channels.items()
                    if ex.name == exchange.name and _routes(exchange.type, binding.routing_key, key)
                ]
                if not matched:
                    self.problem(
                        f"{where}.routingKey",
                        f"{binding.routing_key!r} matches no "
                        f"routing key published to {exchange.name!r}",
                        "MQ-1",
                    )
                sources += [
                    (name, key)
                    for channel, key in matched
                    for name in self.channel_messages(channel).values()
                ]
            if not queue.bindings:
                continue
            arriving = {name for name, _ in sources}
            for key, name in self.channel_messages(channel_id).items():
                if name not in arriving:
                    self.problem(
                        json_path(*path, "messages", key),
                        f"{name} never reaches "
                        f"{queue.name!r}: no binding matches a routing key it is "
                        "published with",
                        "MQ-1",
                    )

    def compile_validators(self) -> dict[str, PayloadValidator]:
        """Compile every payload schema once; `$ref`s resolve inside the contract."""
        registry: Registry[Any] = Registry().with_resource(
            CONTRACT_URI, Resource.from_contents(dict(self.doc), default_specification=DRAFT7)
        )
        validators = {}
        for parts, name in self.message_at.items():
            pointer = pointer_ref((*parts, "payload"))
            schema = {"$ref": f"{CONTRACT_URI}{pointer}"}
            validator = Draft7Validator(schema, registry=registry, format_checker=_FORMATS)
            payload = resolve(self.doc, pointer)
            fast = compile_check(payload, self.doc, _FORMATS.conforms)
            validators[name] = PayloadValidator(name, validator, fast)
        return validators


def reference_problems(document: Json) -> list[ContractProblem]:
    """Every `$ref` is local (`#/...`, RFC 6901, percent-decoded) and points at something (MQ-1)."""
    problems = []
    for path, ref in iter_refs(document):
        where = json_path(*path)
        if pointer_parts(ref) is None:
            problems.append(
                ContractProblem(where, f"{ref!r} is not a local reference ('#/...')", "MQ-1")
            )
        elif resolve(document, ref) is None:
            problems.append(
                ContractProblem(where, f"{ref!r} points at nothing in this document", "MQ-1")
            )
    return problems


def _routes(exchange_type: str, pattern: str, routing_key: str) -> bool:
    if exchange_type == "topic":
        return topic_matches(pattern, routing_key)
    if exchange_type in {"direct", "default"}:
        return pattern == routing_key
    return True  # fanout and headers exchanges ignore the routing key


def build_contract(document: Json, source: str) -> tuple[Contract | None, list[ContractProblem]]:
    """Check the semantic rules of a schema-valid document; return the contract or the problems."""
    builder = _Builder(document, source)
    contract = builder.build()
    return contract, sorted(builder.problems, key=lambda problem: problem.path)

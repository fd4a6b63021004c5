"""The official parser's AsyncAPI 3 semantic rules, which the JSON schema cannot state (MQ-1).

`@asyncapi/parser` 3.6.6 runs a Spectral ruleset over every 3.x document after the schema; its
`asyncapi3-*` rules (`src/ruleset/v3/ruleset.ts` in asyncapi/parser-js) are ported here, each
reported under the `asyncapi` rule with the official rule's name in the message:

* `asyncapi3-operation-messages-from-referred-channel`: an operation's `messages` are `$ref`s
  under its channel's `$ref` + `/messages` (root and component operations);
* `asyncapi3-required-operation-channel-unambiguity`: a root operation's channel `$ref` points
  into `#/channels/`;
* `asyncapi3-required-channel-servers-unambiguity`: a root channel's `servers` point into
  `#/servers/` (not `#/components/servers/`);
* `asyncapi3-channel-no-query-nor-fragment`: a channel's key has no `?` or `#`;
* `asyncapi3-channel-parameters`: a channel's `parameters` are exactly the `{name}`s of its
  address (root and component channels), when it has `parameters`.

`asyncapi3-channel-servers` (a channel's servers exist) is the reference check of `_build.py`.
The rules read a document the schema accepted; they never assume more than that.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from svcinfra.messaging._errors import ContractProblem

from ._paths import deref, json_path

_VARIABLE = re.compile(r"{(.+?)}")


def asyncapi3_problems(document: Mapping[str, Any]) -> list[ContractProblem]:
    """Return what the official parser's `asyncapi3-*` rules find wrong in `document`."""
    problems = [
        *_operation_messages(document),
        *_operation_channels(document),
        *_channel_servers(document),
        *_channel_keys(document),
        *_channel_parameters(document),
    ]
    return sorted(problems, key=lambda problem: problem.path)


def _problem(rule: str, message: str, *path: str | int) -> ContractProblem:
    return ContractProblem(json_path(*path), f"{message} ({rule})", "asyncapi")


def _entries(document: Mapping[str, Any], *path: str) -> Iterator[tuple[str, Any]]:
    node: Any = document
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    if isinstance(node, Mapping):
        yield from node.items()


def _ref(node: object) -> object:
    return node.get("$ref") if isinstance(node, Mapping) else None


def _operation_messages(document: Mapping[str, Any]) -> Iterator[ContractProblem]:
    for where in (("operations",), ("components", "operations")):
        for op_id, operation in _entries(document, *where):
            if not isinstance(operation, Mapping):
                continue
            channel = _ref(operation.get("channel"))
            prefix = f"{channel if isinstance(channel, str) else 'undefined'}/messages"
            messages = operation.get("messages")
            for index, message in enumerate(messages if isinstance(messages, list) else []):
                ref = _ref(message)
                if isinstance(ref, str) and ref and not ref.startswith(prefix):
                    yield _problem(
                        "asyncapi3-operation-messages-from-referred-channel",
                        "operation message does not belong to the operation's channel",
                        *where, op_id, "messages", index,
                    )  # fmt: skip


def _operation_channels(document: Mapping[str, Any]) -> Iterator[ContractProblem]:
    for op_id, operation in _entries(document, "operations"):
        ref = _ref(operation.get("channel")) if isinstance(operation, Mapping) else None
        if isinstance(ref, str) and "#/channels/" not in ref:
            yield _problem(
                "asyncapi3-required-operation-channel-unambiguity",
                "a root operation's channel must reference a channel under '#/channels/'",
                "operations", op_id, "channel", "$ref",
            )  # fmt: skip


def _channel_servers(document: Mapping[str, Any]) -> Iterator[ContractProblem]:
    for channel_id, channel in _entries(document, "channels"):
        servers = channel.get("servers") if isinstance(channel, Mapping) else None
        for index, server in enumerate(servers if isinstance(servers, list) else []):
            ref = _ref(server)
            if isinstance(ref, str) and "#/servers/" not in ref:
                yield _problem(
                    "asyncapi3-required-channel-servers-unambiguity",
                    "a root channel's servers must reference servers under '#/servers/'",
                    "channels", channel_id, "servers", index, "$ref",
                )  # fmt: skip


def _channel_keys(document: Mapping[str, Any]) -> Iterator[ContractProblem]:
    for channel_id, _ in _entries(document, "channels"):
        if "?" in channel_id or "#" in channel_id:
            yield _problem(
                "asyncapi3-channel-no-query-nor-fragment",
                "a channel's key must not contain a query ('?') or fragment ('#') delimiter",
                "channels", channel_id,
            )  # fmt: skip


def _channel_parameters(document: Mapping[str, Any]) -> Iterator[ContractProblem]:
    for where in (("channels",), ("components", "channels")):
        for channel_id, raw in _entries(document, *where):
            channel = deref(document, raw)
            if not isinstance(channel, Mapping):
                continue
            parameters = channel.get("parameters")
            if not isinstance(parameters, Mapping):
                continue
            address = channel.get("address")
            variables = _VARIABLE.findall(address) if isinstance(address, str) else []
            missing = [name for name in variables if name not in parameters]
            if missing:
                yield _problem(
                    "asyncapi3-channel-parameters",
                    f"the address's parameters {', '.join(missing)} are not described",
                    *where, channel_id, "parameters",
                )  # fmt: skip
            for name in parameters:
                if name not in variables:
                    yield _problem(
                        "asyncapi3-channel-parameters",
                        f"parameter {name!r} is not in the channel's address",
                        *where, channel_id, "parameters", name,
                    )  # fmt: skip

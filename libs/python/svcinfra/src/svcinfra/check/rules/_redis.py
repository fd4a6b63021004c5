"""RD-2, RD-3, RD-4, RD-6: raw Redis use in services (svcinfra.cache enforces these itself).

A Redis client is recognised by its name: a receiver whose last part contains `redis`
(`self._redis`, `redis_client`), in a module that imports `redis`. Code that goes through
`svcinfra.cache.Cache` gets TTLs, key namespaces and protobuf values by construction.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import Module, call_parts, dotted, functions, keyword_names, modules
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult, Severity

from ._messaging import contract_names

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Repo

_TTL_KWARGS: Final = frozenset({"ex", "px", "exat", "pxat", "keepttl", "**"})
_NEEDS_EXPIRE: Final = frozenset(
    {"setnx", "mset", "msetnx", "hset", "hmset", "hsetnx", "lpush", "rpush", "sadd", "zadd"}
)
_EXPIRES: Final = frozenset({"expire", "pexpire", "expireat", "pexpireat"})
_KEYED: Final = frozenset(
    {
        "get",
        "set",
        "setex",
        "psetex",
        "setnx",
        "delete",
        "unlink",
        "exists",
        "expire",
        "pexpire",
        "incr",
        "incrby",
        "decr",
        "hget",
        "hset",
        "hgetall",
        "hdel",
        "lpush",
        "rpush",
        "sadd",
        "zadd",
        "getdel",
        "getex",
    }
)
_KEY: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*:[A-Za-z0-9][A-Za-z0-9_-]*:\S")
_SERIALIZERS: Final = frozenset(
    {
        "json.dumps",
        "json.loads",
        "pickle.dumps",
        "pickle.loads",
        "orjson.dumps",
        "orjson.loads",
        "marshal.dumps",
        "marshal.loads",
        "msgpack.packb",
        "msgpack.unpackb",
    }
)


def _redis_modules(repo: Repo) -> Iterator[Module]:
    for service in repo.services:
        for module in modules(repo, service):
            if module.imports_any("redis"):
                yield module


def _redis_calls(module: Module) -> Iterator[tuple[ast.Call, str]]:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            receiver, name = call_parts(node)
            if receiver and name and "redis" in receiver.rsplit(".", 1)[-1].lower():
                yield node, name


class RedisTtl(Rule):
    """Every raw Redis write sets a TTL."""

    info = RuleInfo(
        rule="RD-2",
        check="redis-write-without-ttl",
        summary="A raw Redis write sets a TTL (SET with ex/px, SETEX, or an EXPIRE in the same "
        "function).",
        fix="Use svcinfra.cache.Cache (mandatory jittered TTL), or pass ex=/px= to set, or "
        "expire the key in the same function.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report writes without a TTL in modules that use redis directly."""
        findings: list[Finding] = []
        checked = 0
        for module in _redis_modules(repo):
            checked += 1
            expiring = {
                id(func)
                for func in functions(module.tree)
                for node in ast.walk(func)
                if isinstance(node, ast.Call) and call_parts(node)[1] in _EXPIRES
            }
            owner = _owners(module.tree)
            for call, name in _redis_calls(module):
                if name == "set" and not keyword_names(call) & _TTL_KWARGS:
                    missing = True
                elif name in _NEEDS_EXPIRE:
                    missing = owner.get(id(call)) not in expiring
                else:
                    continue
                if missing:
                    findings.append(
                        self.finding(
                            module.rel,
                            call.lineno,
                            f"{name}() without a TTL",
                            column=call.col_offset + 1,
                        )
                    )
        return self.result(findings, checked)


def _owners(tree: ast.Module) -> dict[int, int]:
    owner: dict[int, int] = {}
    for func in functions(tree):
        for node in ast.walk(func):
            owner.setdefault(id(node), id(func))
    # the innermost function wins: walk again from the inside
    for func in sorted(functions(tree), key=lambda f: -f.lineno):
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                owner[id(node)] = id(func)
    return owner


class RedisKeys(Rule):
    """Literal Redis keys follow `<domain>:<entity>:<id>`."""

    info = RuleInfo(
        rule="RD-3",
        check="redis-key-format",
        summary="Redis key literals (and the constant head of f-string keys) follow "
        "<domain>:<entity>:<id>, e.g. user:profile:123.",
        fix="Name keys <domain>:<entity>:<id>, or build them with svcinfra.cache.KeyNamespace.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report key arguments whose literal text breaks the format."""
        findings: list[Finding] = []
        checked = 0
        for module in _redis_modules(repo):
            checked += 1
            for call, name in _redis_calls(module):
                if name not in _KEYED or not call.args:
                    continue
                key = _key_text(call.args[0])
                if key is not None and not _KEY.match(key):
                    findings.append(
                        self.finding(
                            module.rel,
                            call.lineno,
                            f"key {key!r} is not <domain>:<entity>:<id>",
                            column=call.args[0].col_offset + 1,
                        )
                    )
        return self.result(findings, checked)


def _key_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(p.value) if isinstance(p, ast.Constant) else "X" for p in node.values)
    return None


class RedisSerialization(Rule):
    """Values go to Redis as protobuf, not JSON or pickle."""

    info = RuleInfo(
        rule="RD-4",
        check="redis-serialization",
        summary="Values stored in Redis are protobuf; json / pickle / msgpack are not used for "
        "Redis values.",
        fix="Define the value as a protobuf message under proto/ and store it through "
        "svcinfra.cache.Cache (ProtobufCodec).",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report serializer calls feeding Redis writes or reading Redis results, and pickle."""
        findings: list[Finding] = []
        checked = 0
        for module in _redis_modules(repo):
            checked += 1
            seen: set[int] = set()
            for call, _ in _redis_calls(module):
                for node in ast.walk(call):
                    if isinstance(node, ast.Call) and dotted(node.func) in _SERIALIZERS:
                        seen.add(id(node))
                        findings.append(self._at(module, node))
            for node in ast.walk(module.tree):
                if (
                    isinstance(node, ast.Call)
                    and id(node) not in seen
                    and dotted(node.func) in _SERIALIZERS
                    and any(
                        isinstance(arg, ast.Call)
                        and call_parts(arg)[0]
                        and "redis" in str(call_parts(arg)[0]).lower()
                        for inner in node.args
                        for arg in ast.walk(inner)
                    )
                ):
                    findings.append(self._at(module, node))  # noqa: PERF401  (one finding per match reads clearer as a loop)
        return self.result(findings, checked)

    def _at(self, module: Module, node: ast.Call) -> Finding:
        return self.finding(
            module.rel,
            node.lineno,
            f"{dotted(node.func)}() used for a Redis value; values are protobuf",
            column=node.col_offset + 1,
        )


class RedisPubSub(Rule):
    """Messages of the AsyncAPI contract are not sent over Redis pub/sub."""

    info = RuleInfo(
        rule="RD-6",
        check="redis-pubsub-for-contract-message",
        summary="Redis PUBLISH is not used for a message the service's AsyncAPI contract "
        "declares: those need RabbitMQ's delivery guarantees.",
        fix="Publish the message with svcinfra.messaging (publisher confirms, DLQ), or rename "
        "the channel if it is a best-effort notification that is not a contract message.",
        severity=Severity.WARNING,
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report redis.publish(channel) where the channel names a contract message."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            names = contract_names(repo, service)
            for module in modules(repo, service):
                if not module.imports_any("redis"):
                    continue
                checked += 1
                for call, name in _redis_calls(module):
                    if name != "publish" or not call.args:
                        continue
                    channel = _key_text(call.args[0])
                    if channel is not None and channel in names:
                        findings.append(
                            self.finding(
                                module.rel,
                                call.lineno,
                                f"contract message {channel} published over Redis pub/sub",
                                column=call.col_offset + 1,
                            )
                        )
        return self.result(findings, checked)

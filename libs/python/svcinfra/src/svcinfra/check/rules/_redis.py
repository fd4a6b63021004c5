"""RD-2, RD-3, RD-4, RD-6: raw Redis use in services (svcinfra.cache enforces these itself).

A Redis client is known by what the module says it is (`adapters.types_of`): an annotation
(`client: redis.asyncio.Redis`), a constructor or factory (`redis.asyncio.from_url(...)`), a
pipeline taken from one, with import aliases followed. Where the module does not say, a receiver
whose name contains `redis` (or `pipe`) is still taken for one, and the finding says it rests on
that guess (low confidence). Code that goes through `svcinfra.cache.Cache` gets TTLs, key
namespaces and protobuf values by construction, and is never a Redis receiver here.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import (
    REDIS_KINDS,
    Inferred,
    Module,
    TypeMap,
    call_parts,
    functions,
    modules,
    own_nodes,
    types_of,
)
from svcinfra.check.domain import Confidence, Finding, Rule, RuleInfo, RuleResult, Severity

from ._messaging import contract_names

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Repo

_TTL_KWARGS: Final = frozenset({"ex", "px", "exat", "pxat"})
# set(name, value, ex=None, px=None, nx=False, xx=False, keepttl=False, ...): positions of the TTLs
_SET_TTL_POSITIONS: Final = (2, 3)
# writes that create a key without a TTL unless the function expires it
_NEEDS_EXPIRE: Final = frozenset(
    {
        "setnx",
        "mset",
        "msetnx",
        "getset",
        "append",
        "setrange",
        "incr",
        "incrby",
        "incrbyfloat",
        "decr",
        "decrby",
        "hset",
        "hmset",
        "hsetnx",
        "hincrby",
        "hincrbyfloat",
        "lpush",
        "rpush",
        "linsert",
        "sadd",
        "zadd",
        "zincrby",
        "xadd",
        "pfadd",
        "geoadd",
    }
)
_EXPIRES: Final = frozenset({"expire", "pexpire", "expireat", "pexpireat", "getex"})
_READS: Final = frozenset({"get", "getdel", "getex", "hget", "hgetall", "mget", "lpop", "rpop"})
_KEYED: Final = frozenset(
    {
        *_NEEDS_EXPIRE,
        *_READS,
        "set",
        "setex",
        "psetex",
        "delete",
        "unlink",
        "exists",
        "expire",
        "pexpire",
        "hdel",
        "ttl",
        "pttl",
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
        "ujson.dumps",
        "ujson.loads",
        "marshal.dumps",
        "marshal.loads",
        "msgpack.packb",
        "msgpack.unpackb",
        "msgpack.dumps",
        "msgpack.loads",
    }
)


def _redis_modules(repo: Repo) -> Iterator[Module]:
    for service in repo.services:
        for module in modules(repo, service):
            if module.imports_any("redis"):
                yield module


def _redis_calls(module: Module) -> Iterator[tuple[ast.Call, str, Inferred]]:
    """Every call of a method on a Redis client or pipeline, with what the receiver is."""
    types = types_of(module.tree)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found = types.guess(node.func.value, types.function_of(node))
            if found is not None and found.kind in REDIS_KINDS:
                yield node, node.func.attr, found


def _confidence(found: Inferred) -> Confidence:
    return Confidence.HIGH if found.certain else Confidence.LOW


def _because(found: Inferred) -> str:
    return "" if found.certain else f" ({found.why})"


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _set_has_ttl(call: ast.Call) -> bool:
    for keyword in call.keywords:
        if keyword.arg is None:
            return True  # **options: cannot tell
        if keyword.arg in _TTL_KWARGS and not _is_none(keyword.value):
            return True
        if keyword.arg == "keepttl" and not (
            isinstance(keyword.value, ast.Constant) and not keyword.value.value
        ):
            return True
    return any(
        len(call.args) > position and not _is_none(call.args[position])
        for position in _SET_TTL_POSITIONS
    )


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
            types = types_of(module.tree)
            expiring = {
                id(func)
                for func in functions(module.tree)
                for node in own_nodes(func.body)
                if isinstance(node, ast.Call) and call_parts(node)[1] in _EXPIRES
            }
            for call, name, found in _redis_calls(module):
                if name == "set":
                    missing = not _set_has_ttl(call)
                elif name in _NEEDS_EXPIRE:
                    missing = id(types.function_of(call)) not in expiring
                else:
                    continue
                if missing:
                    findings.append(
                        self.finding(
                            module.rel,
                            call.lineno,
                            f"{name}() on {found.kind} without a TTL{_because(found)}",
                            column=call.col_offset + 1,
                            confidence=_confidence(found),
                        )
                    )
        return self.result(findings, checked)


class RedisKeys(Rule):
    """Literal Redis keys follow `<domain>:<entity>:<id>`."""

    info = RuleInfo(
        rule="RD-3",
        check="redis-key-format",
        summary="Redis key literals (and the constant parts of f-string, concatenated and "
        "formatted keys) follow <domain>:<entity>:<id>, e.g. user:profile:123.",
        fix="Name keys <domain>:<entity>:<id>, or build them with svcinfra.cache.KeyNamespace.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report key arguments whose literal text breaks the format."""
        findings: list[Finding] = []
        checked = 0
        for module in _redis_modules(repo):
            checked += 1
            for call, name, found in _redis_calls(module):
                if name not in _KEYED or not call.args:
                    continue
                key = key_text(call.args[0])
                if key is not None and not _KEY.match(key):
                    findings.append(
                        self.finding(
                            module.rel,
                            call.lineno,
                            f"key {key!r} is not <domain>:<entity>:<id>{_because(found)}",
                            column=call.args[0].col_offset + 1,
                            confidence=_confidence(found),
                        )
                    )
        return self.result(findings, checked)


def key_text(node: ast.expr) -> str | None:  # noqa: PLR0911  (one case per way to build a string)
    """The text of a key built from literals, with `X` for each computed part; None if unknown.

    Literals, f-strings, `+` concatenation, `%` formatting and `"...".format(...)`.
    """
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(p.value) if isinstance(p, ast.Constant) else "X" for p in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = key_text(node.left), key_text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "X") + (right if right is not None else "X")
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        head = key_text(node.left)
        return None if head is None else re.sub(r"%[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]", "X", head)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
    ):
        head = key_text(node.func.value)
        return None if head is None else re.sub(r"\{[^{}]*\}", "X", head)
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
        """Report serializer calls feeding Redis writes or reading Redis results.

        Followed through one local name: `data = json.dumps(v); client.set(k, data)` and
        `raw = await client.get(k); json.loads(raw)` are found like the inline forms.
        """
        findings: list[Finding] = []
        checked = 0
        for module in _redis_modules(repo):
            checked += 1
            findings.extend(self._module(module))
        return self.result(findings, checked)

    def _module(self, module: Module) -> Iterator[Finding]:
        types = types_of(module.tree)
        calls = list(_redis_calls(module))
        redis_calls = {id(call): found for call, _, found in calls}
        serialized, fetched = _local_flows(types, redis_calls)
        seen: set[int] = set()
        for call, _, found in calls:  # values written: serialized inline or one name before
            scope = id(types.function_of(call))
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                for node in ast.walk(arg):
                    source = None
                    if isinstance(node, ast.Call) and types.qualified(node.func) in _SERIALIZERS:
                        source = node
                    elif isinstance(node, ast.Name):
                        source = serialized.get((scope, node.id))
                    if source is not None and id(source) not in seen:
                        seen.add(id(source))
                        yield self._at(module, types, source, found)
        for node in ast.walk(module.tree):  # values read: deserialized inline or one name after
            if (
                isinstance(node, ast.Call)
                and id(node) not in seen
                and types.qualified(node.func) in _SERIALIZERS
                and (read := _read_from_redis(types, node, redis_calls, fetched)) is not None
            ):
                yield self._at(module, types, node, read)

    def _at(self, module: Module, types: TypeMap, node: ast.Call, found: Inferred) -> Finding:
        return self.finding(
            module.rel,
            node.lineno,
            f"{types.qualified(node.func)}() used for a Redis value; values are protobuf"
            f"{_because(found)}",
            column=node.col_offset + 1,
            confidence=_confidence(found),
        )


def _read_from_redis(
    types: TypeMap,
    node: ast.Call,
    redis_calls: dict[int, Inferred],
    fetched: dict[tuple[int, str], Inferred],
) -> Inferred | None:
    """The Redis receiver whose result `node` (a deserializer's call) reads, if any."""
    scope = id(types.function_of(node))
    for arg in node.args:
        for inner in ast.walk(arg):
            if id(inner) in redis_calls:
                return redis_calls[id(inner)]
        if isinstance(arg, ast.Name) and (scope, arg.id) in fetched:
            return fetched[(scope, arg.id)]
    return None


def _local_flows(
    types: TypeMap, redis_calls: dict[int, Inferred]
) -> tuple[dict[tuple[int, str], ast.Call], dict[tuple[int, str], Inferred]]:
    """Names bound to a serializer's result, and names bound to a Redis read, per function."""
    serialized: dict[tuple[int, str], ast.Call] = {}
    fetched: dict[tuple[int, str], Inferred] = {}
    for node in ast.walk(types.tree):
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            continue
        key = (id(types.function_of(node)), node.targets[0].id)
        value = node.value.value if isinstance(node.value, ast.Await) else node.value
        dumped = next(  # json.dumps(v) itself, or within: json.dumps(v).encode()
            (
                inner
                for inner in ast.walk(value)
                if isinstance(inner, ast.Call) and types.qualified(inner.func) in _SERIALIZERS
            ),
            None,
        )
        if dumped is not None:
            serialized[key] = dumped
        elif isinstance(value, ast.Call) and id(value) in redis_calls:
            fetched[key] = redis_calls[id(value)]
    return serialized, fetched


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
                types = types_of(module.tree)
                for call, name, found in _redis_calls(module):
                    if name not in {"publish", "spublish"}:
                        continue
                    given = [
                        *call.args[:1],
                        *(kw.value for kw in call.keywords if kw.arg == "channel"),
                    ]
                    if not given:
                        continue
                    channel = types.text_of(given[0]) or key_text(given[0])
                    if channel is not None and channel in names:
                        findings.append(
                            self.finding(
                                module.rel,
                                call.lineno,
                                f"contract message {channel} published over Redis pub/sub"
                                f"{_because(found)}",
                                column=call.col_offset + 1,
                                confidence=_confidence(found),
                            )
                        )
        return self.result(findings, checked)

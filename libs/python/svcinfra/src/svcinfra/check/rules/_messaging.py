"""MQ-1 / MQ-2 / MQ-10: a service that speaks AMQP has a valid contract, and its code uses it.

The contract is validated by `svcinfra.messaging.contract` (the official AsyncAPI 3.0 schema plus
the MQ rules the schema cannot state); each of its problems becomes a finding at the YAML line
its JSON path points to.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import compose, line_of, modules, types_of
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult, Severity
from svcinfra.messaging.contract import Contract, ContractError, load_contract

if TYPE_CHECKING:
    from pathlib import Path

    from svcinfra.check.adapters import Repo, Service

CONTRACT: Final = ("api", "server", "asyncapi.yaml")
_AMQP: Final = ("aio_pika", "aiormq", "pika", "svcinfra.messaging")
_AMQP_ZONES: Final = frozenset({"internal", "jobs", "dev"})
_MESSAGE: Final = re.compile(r"^[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)+\.v[0-9]+$")


def contract_path(service: Service) -> Path | None:
    """Where the service's contract must be: `<package>/api/server/asyncapi.yaml`."""
    return service.package_dir.joinpath(*CONTRACT) if service.package_dir else None


def _uses_amqp(repo: Repo, service: Service) -> bool:
    return any(module.imports_any(*_AMQP) for module in modules(repo, service))


def load(repo: Repo, service: Service) -> Contract | ContractError | None:
    """The service's contract, its errors, or None when it has no contract file (memoised)."""
    key = ("contract", service.rel)
    if key not in repo.memo:
        path = contract_path(service)
        value: Contract | ContractError | None = None
        if path is not None and path.is_file():
            try:
                value = load_contract(path)
            except ContractError as exc:
                value = exc
        repo.memo[key] = value
    return repo.memo[key]  # type: ignore[return-value]


def contract_names(repo: Repo, service: Service) -> frozenset[str]:
    """Message names and channel addresses of the service's contract (empty without one)."""
    contract = load(repo, service)
    if not isinstance(contract, Contract):
        return frozenset()
    channels = contract.document.get("channels") or {}
    addresses = {c.get("address") for c in channels.values() if isinstance(c, dict)}
    return frozenset({*contract.messages, *(a for a in addresses if isinstance(a, str))})


class ContractPresent(Rule):
    """A service using AMQP has a valid `api/server/asyncapi.yaml`."""

    info = RuleInfo(
        rule="MQ-1",
        check="asyncapi-contract",
        summary="A service that uses AMQP has <pkg>/api/server/asyncapi.yaml: valid AsyncAPI "
        "3.0, AMQP bindings on every channel, a payload schema and a version on every message "
        "(MQ-2), a DLQ on every consumed queue (MQ-10); AMQP only in internal and jobs zones.",
        also=("MQ-2", "MQ-10"),
        fix="Write or fix the contract as the message says; `svcinfra asyncapi validate FILE` "
        "checks it alone.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Validate each service's contract; require one where AMQP is used."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            path = contract_path(service)
            if path is None:
                continue
            amqp = _uses_amqp(repo, service)
            if amqp and service.zone not in _AMQP_ZONES:
                findings.append(
                    self.finding(
                        service.rel,
                        0,
                        f"service {service.name} in zone {service.zone} uses AMQP; RabbitMQ is "
                        "for internal and jobs services only",
                    )
                )
            contract = load(repo, service)
            if contract is None:
                if amqp:
                    findings.append(
                        self.finding(service.rel, 0, f"uses AMQP but has no {repo.rel(path)}")
                    )
                continue
            checked += 1
            if isinstance(contract, ContractError):
                root = compose(repo.text(path) or "")
                findings.extend(
                    self.finding(
                        repo.rel(path),
                        line_of(root, problem.path),
                        f"{problem.path}: {problem.message}",
                        rule="MQ-1" if problem.rule == "asyncapi" else problem.rule,
                    )
                    for problem in contract.problems
                )
        return self.result(findings, checked)


class ContractUsage(Rule):
    """Message names in code exist in the contract; contract messages are used."""

    info = RuleInfo(
        rule="MQ-1",
        check="contract-message-names",
        summary="Every versioned message name the code passes to a call (publish, handler "
        "registration) is declared in the service's contract; a declared message no code "
        "mentions is reported as a warning.",
        fix="Add the message to api/server/asyncapi.yaml (name, version, payload schema), fix "
        "the name in the code, or remove the unused message from the contract.",
    )

    def check(self, repo: Repo) -> RuleResult:  # noqa: C901  (one pass over the tree, kept whole)
        """Compare name literals in call arguments with the contract's messages."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            contract = load(repo, service)
            if not isinstance(contract, Contract):
                continue
            checked += 1
            path = contract_path(service)
            assert path is not None  # noqa: S101  (a loaded contract has a path)
            used: set[str] = set()
            for module in modules(repo, service):
                types = types_of(module.tree)
                for node in ast.walk(module.tree):
                    if isinstance(node, ast.Constant) and isinstance(node.value, str):
                        used.add(node.value)
                    if not isinstance(node, ast.Call):
                        continue
                    for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                        # a literal, or a module constant holding one (USER_RENAMED)
                        name = types.text_of(arg)
                        if (
                            name is not None
                            and _MESSAGE.match(name)
                            and name not in contract.messages
                        ):
                            findings.append(
                                self.finding(
                                    module.rel,
                                    arg.lineno,
                                    f"message {name} is not declared in {repo.rel(path)}",
                                    column=arg.col_offset + 1,
                                )
                            )
            root = compose(repo.text(path) or "")
            for name, spec in sorted(contract.messages.items()):
                if name not in used:
                    findings.append(
                        self.finding(
                            repo.rel(path),
                            line_of(root, f"$.components.messages.{spec.component}"),
                            f"message {name} is declared but no code of {service.name} uses it",
                            severity=Severity.WARNING,
                        )
                    )
        return self.result(findings, checked)

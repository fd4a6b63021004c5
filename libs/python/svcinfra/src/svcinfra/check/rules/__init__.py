"""Every checker rule, one module per rule family; `RULES` is the registry, in report order."""

from svcinfra.check.domain import Rule

from ._arch import DomainImports
from ._config import EnvPrefix, HardCodedSecrets, OneConfig, SecretsMarked
from ._database import PreparedQueries
from ._deploy import DevServicesStayInDev, Dockerfiles, PinnedImages, ServicesDeclared
from ._external import HttpOnlyInClients, HttpTimeouts
from ._messaging import ContractPresent, ContractUsage
from ._migrations import MigrationFiles, MigrationLayout, MigrationLint
from ._queries import QueryFiles
from ._redis import RedisKeys, RedisPubSub, RedisSerialization, RedisTtl
from ._repository import NetworkInTransaction, PositionalRows, RepositoryLayout
from ._sql import ExecuteNonConstant, QueryLoading, SqlBuiltFromStrings, SqlInString

RULES: tuple[type[Rule], ...] = (
    DomainImports,
    MigrationLayout,
    MigrationFiles,
    MigrationLint,
    SqlBuiltFromStrings,
    ExecuteNonConstant,
    PositionalRows,
    RepositoryLayout,
    SqlInString,
    QueryFiles,
    QueryLoading,
    PreparedQueries,
    NetworkInTransaction,
    RedisTtl,
    RedisKeys,
    RedisSerialization,
    RedisPubSub,
    ContractPresent,
    ContractUsage,
    HardCodedSecrets,
    SecretsMarked,
    EnvPrefix,
    OneConfig,
    HttpOnlyInClients,
    HttpTimeouts,
    Dockerfiles,
    PinnedImages,
    ServicesDeclared,
    DevServicesStayInDev,
)

__all__ = ["RULES"]

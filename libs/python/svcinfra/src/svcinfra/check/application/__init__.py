"""The checker's use case: select rules, run them, apply suppressions, report."""

from ._run import Report, all_infos, run_check, select_rules
from ._suppress import Suppression

__all__ = ["Report", "Suppression", "all_infos", "run_check", "select_rules"]

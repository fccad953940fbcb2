"""Transaction load for long-term test fleets: invokes round-robin over every orderer, checked by a query."""

from opskit.load.tx import (BudgetOptions, LoadError, LoadOptions, LoadPlan, OrdererTarget, load_lock, parse_duration,
                            parse_rate, plan_load, run_load)

__all__ = ["BudgetOptions", "LoadError", "LoadOptions", "LoadPlan", "OrdererTarget", "load_lock", "parse_duration",
           "parse_rate", "plan_load", "run_load"]

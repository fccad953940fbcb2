"""load.*: keep a long-term test fleet loaded with chaincode transactions (docs/load.md)."""

from __future__ import annotations

from opskit.tasks.runner import task

from opskit.tasks import runner


def _args(text):  # type: ignore[no-untyped-def]
    """A JSON array ('["invoke","a","b","1"]') or shell words ("invoke a b 1")."""
    import json
    import shlex

    from opskit.load.tx import LoadError

    if text is None:
        return None
    text = str(text).strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise LoadError(f"chaincode arguments {text!r}: not a JSON array: {exc}") from None
        if not isinstance(value, list):
            raise LoadError(f"chaincode arguments {text!r}: not a JSON array")
        return [str(v) for v in value]
    return shlex.split(text)


@task(iterable=["flag", "env"], numbers={"count": runner.count(1), "confirm_timeout": runner.seconds(),
                                         "budget_days": runner.seconds(), "budget_tx": runner.seconds(),
                                         "block_bytes": runner.seconds(),
                                         "rate": runner.Parsed("opskit.load.tx:parse_rate"),
                                         "duration": runner.Parsed("opskit.load.tx:parse_duration")}, help={
    "rate": "transactions per minute: N/min, N/s, N/h or N (default 1/min)",
    "duration": "how long to send: 55s, 10m, 2h (default 1m, or until --count)",
    "count": "stop after this many transactions",
    "chaincode": "chaincode name (default: the inventory's chaincode.name)",
    "channel": "channel (default: the inventory's chaincode.channel)",
    "invoke_args": "invoke arguments: 'invoke a b 1' or '[\"invoke\",\"a\",\"b\",\"1\"]' (default: "
                   "chaincode.invoke_args; placeholders {seq} {ts} {uuid})",
    "query_args": "query arguments, same forms (default: chaincode.query_args)",
    "cli": "the cli node that runs `peer` (default: the inventory's only node of kind cli)",
    "orderer_address": "what goes after -o: 'host' (the orderer host's address, default) or 'hostname'",
    "confirm_timeout": "seconds a query may take to show the new value (default 10)",
    "flag": "extra flag for `peer chaincode invoke`, e.g. --flag=--tls --flag=--cafile --flag=/path/ca.pem",
    "env": "K=V set in the cli container for every command (docker exec -e), e.g. CORE_PEER_ADDRESS=peer0:7051",
    "budget_days": "daily budget: keep the channel's ledger disks under 90% for this many days",
    "budget_tx": "daily budget: at most this many transactions per UTC day",
    "block_bytes": "average size of one transaction's block, for --budget-days (default 5000)",
})
def tx(c, inventory=None, rate="1/min", duration=None, count=None, chaincode=None, channel=None, invoke_args=None,
       query_args=None, cli=None, orderer_address="host", confirm_timeout=None, flag=None, env=None,
       budget_days=None, budget_tx=None, block_bytes=5000, json_=False):
    """Invoke round-robin over every orderer of the channel through the cli container; query that the value changed."""
    from opskit.load.tx import (BudgetOptions, LoadError, LoadOptions, load_lock, parse_duration, parse_rate,
                                plan_load, run_load)

    with runner.task_errors():
        inv = runner.inventory(inventory)
        plan = plan_load(inv, chaincode=chaincode, channel=channel, invoke_args=_args(invoke_args),
                         query_args=_args(query_args), cli=cli, orderer_address=orderer_address)
        envs = {}
        for item in env or []:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise LoadError(f"--env takes K=V, not {item!r}")
            envs[key] = value
        opts = LoadOptions(
            rate_per_min=parse_rate(rate),
            duration_s=parse_duration(duration) if duration else None,
            count=int(count) if count else None,
            confirm_timeout=float(confirm_timeout) if confirm_timeout else 10.0,
            extra_flags=list(flag or []),
            env=envs,
            budget=BudgetOptions(tx_per_day=float(budget_tx) if budget_tx else None,
                                 days=float(budget_days) if budget_days else None,
                                 block_bytes=float(block_bytes)),
        )
        with load_lock(inv.source or "", "load.tx"):
            report = run_load(inv, plan, opts)
    runner.finish(report, json_)

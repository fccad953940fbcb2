"""Parallel remote execution: argv-only commands, one session per host, deadlines."""

from opskit.remote.command import join, script
from opskit.remote.engine import Engine, EngineOptions, HostResult, run_on_hosts
from opskit.remote.session import CommandResult, LocalSession, SshSession

__all__ = ["CommandResult", "Engine", "EngineOptions", "HostResult", "LocalSession", "SshSession",
           "join", "run_on_hosts", "script"]

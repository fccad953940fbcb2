"""``python3 -m tests.orderer.crash_at STEP:PHASE TASK [ARGS...]``: opskit's CLI (``python3 -m opskit``) that kills
itself with SIGKILL at one step boundary of the Kafka -> Raft migration, through the migration's documented step hook
(:func:`opskit.orderer.migrate.add_step_hook`). Test equipment: the library carries no crash switch.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> None:
    from opskit.__main__ import program
    from opskit.orderer.migrate import add_step_hook

    boundary, task_argv = argv[0], argv[1:]

    def kill_at(step: str, phase: str) -> None:
        if f"{step}:{phase}" == boundary:
            sys.stderr.write(f"crash_at: killing myself (-9) at {boundary}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    add_step_hook(kill_at)
    program.run(argv=["opskit", *task_argv])


if __name__ == "__main__":
    main(sys.argv[1:])

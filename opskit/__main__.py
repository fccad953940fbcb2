"""`python3 -m opskit TASK ...`: opskit's tasks from any directory (cron uses this)."""

from invoke import Program

from opskit import __version__
from opskit.tasks import ns

program = Program(namespace=ns, version=__version__, name="opskit", binary="opskit")

if __name__ == "__main__":
    program.run()

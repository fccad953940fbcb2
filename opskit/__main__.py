"""`python3 -m opskit TASK ...`: opskit's tasks from any directory (cron uses this)."""

from opskit import __version__
from opskit.tasks import ns
from opskit.tasks.program import OpskitProgram

program = OpskitProgram(namespace=ns, version=__version__, name="opskit", binary="opskit")

if __name__ == "__main__":
    program.run()

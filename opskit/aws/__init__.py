"""AWS operations for test fleets moved to ECS and MSK (boto3).

Only :mod:`opskit.tasks.aws` imports this package, inside its task bodies: boto3 is
never loaded by ``inv --list`` or by other namespaces. Modules:

- :mod:`opskit.aws.session`  boto3 session/clients from the inventory's ``aws:`` section
- :mod:`opskit.aws.ecr`      repositories with a lifecycle policy
- :mod:`opskit.aws.ssm`      container ``secrets`` from an SSM Parameter Store path
- :mod:`opskit.aws.ecs`      task definition copy, deploy, rollout watcher, rollback, status
- :mod:`opskit.aws.msk`      server-properties validation, configurations, clusters, poller, brokers
- :mod:`opskit.aws.poll`     progress display, duration parsing (polling: opskit.wait)
"""

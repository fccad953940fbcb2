"""Cron: a marked, idempotent block in the user's crontab, and the wrapper every entry runs through."""

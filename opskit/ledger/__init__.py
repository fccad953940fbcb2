"""Ledger inspection straight from Fabric block files (node running or stopped), and disk forecasts.

``blockfile`` is stdlib-only and shipped to remote hosts as-is; ``remote`` runs it there through the
remote engine; ``forecast`` is the capacity math and sample store.
"""

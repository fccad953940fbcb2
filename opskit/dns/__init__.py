"""Per-organisation DNS zones: TSIG-signed RFC 2136 updates, AXFR reads, sync plans, extra_hosts import.

See docs/dns.md. Modules: names (validation), keys (BIND key files), zone (the client),
plan (sync), extra_hosts (compose/containers), check (drift), server_config (BIND config).
"""

"""Certificate expiry: every node's certificates, read on its host where the container mounts them.

One command per host: for each node container, ``docker inspect`` gives its Fabric settings (the environment:
``ORDERER_GENERAL_LOCALMSPDIR``, ``ORDERER_GENERAL_TLS_CERTIFICATE``, ``*_ROOTCAS``, ``CORE_PEER_MSPCONFIGPATH``,
``CORE_PEER_TLS_*_FILE``, ``CORE_OPERATIONS_TLS_*``, ``FABRIC_CA_SERVER_*``...; Fabric's default
``/etc/hyperledger/fabric/{msp,tls}`` when none is set) and its bind mounts (host path -> container path), which
say where those files are on the host. The PEM files there (``*.pem``, ``*.crt``, ``*.cert`` under 64 KiB holding a
``BEGIN CERTIFICATE`` line: TLS server/client certs, MSP ``signcerts``, ``cacerts``, ``tlscacerts``,
``admincerts``, CA bundles) are sent back and parsed here with ``cryptography``. Other mounts (a stand-in that
mounts ``/usr``) are not searched. Private keys never leave the
host (only the certificate blocks of a file are sent). For the tools (cli) container, which mounts every org's crypto,
only what the inventory names is read: each org's ``admin_msp_path`` and ``admin_tls_cert`` and the nodes'
``tls_ca_file``. An HTTPS operations client pair named by the inventory (a host path) is read too.

:func:`expiry_status` is the one place that turns validity dates into a severity; the Kafka-to-Raft migration
precheck (:func:`opskit.orderer.migration.check_certificate`) uses it as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from opskit.inventory.model import Host, Inventory, Node, NodeKind, Thresholds
from opskit.output.report import Finding, Severity
from opskit.remote.command import script
from opskit.remote.session import BaseSession

# --------------------------------------------------------------------------------------------------- the rule


def expiry_status(not_before: datetime, not_after: datetime, *, now: datetime | None = None,
                  warning: timedelta = timedelta(days=30), critical: timedelta = timedelta(days=7)) -> tuple[Severity, str]:
    """Severity and a short reason for a certificate's validity window.

    Expired or not yet valid: CRITICAL; less than ``critical`` left: CRITICAL; less than ``warning``: WARNING.
    """
    now = now or datetime.now(timezone.utc)
    left = not_after - now
    if not_after <= now:
        return Severity.CRITICAL, f"expired on {not_after.isoformat()}"
    if not_before > now:
        return Severity.CRITICAL, f"not valid before {not_before.isoformat()}"
    days = left.total_seconds() / 86400
    if left < critical:
        return Severity.CRITICAL, f"expires in {days:.1f} days ({not_after.isoformat()})"
    if left < warning:
        return Severity.WARNING, f"expires in {days:.1f} days ({not_after.isoformat()})"
    return Severity.OK, f"valid until {not_after.date().isoformat()} ({days:.0f} days)"


def limits(th: Thresholds) -> tuple[timedelta, timedelta]:
    """(warning, critical) of an inventory's thresholds."""
    return timedelta(days=th.cert_warning_days), timedelta(days=th.cert_critical_days)


# --------------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class CertInfo:
    """One certificate of one node (a PEM file may hold several: a CA bundle)."""

    node: str
    host: str
    path: str              #: on the host
    container_path: str    #: as the container sees it ("" for a host-side file)
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    index: int = 0         #: position in the file

    def days_left(self, now: datetime | None = None) -> float:
        return (self.not_after - (now or datetime.now(timezone.utc))).total_seconds() / 86400

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        return {"node": self.node, "host": self.host, "path": self.path, "container_path": self.container_path,
                "index": self.index, "subject": self.subject, "issuer": self.issuer,
                "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
                "days_left": round(self.days_left(now), 2)}


#: "$@": "c:CONTAINER" starts a container; "p:PATH" a path inside it; "p:@env" every certificate path and MSP
#: directory its Fabric settings name (``CORE_*``/``ORDERER_*``/``FABRIC_CA_*`` variables whose name says MSP, TLS,
#: CERT or ROOTCA and not KEY; Fabric's default /etc/hyperledger/fabric/{msp,tls} when there are none); "h:PATH" a
#: host path. Container paths are mapped to the host through the container's bind mounts (longest match).
#: Prints "@@cert<TAB>container<TAB>container path<TAB>host path", the certificate blocks, "@@endcert".
_CERTS = r"""
T=""; command -v timeout >/dev/null 2>&1 && T="timeout 15"
TAB=$(printf '\t')
cur=""; mounts=""
emit() {  # $1 host path to search, $2 mount source, $3 mount destination
  find "$1" -maxdepth 4 -type f -size -64k \( -name '*.pem' -o -name '*.crt' -o -name '*.cert' \) 2>/dev/null |
  while IFS= read -r f; do
    if grep -q -- '-----BEGIN CERTIFICATE-----' "$f" 2>/dev/null; then
      printf '@@cert\t%s\t%s\t%s\n' "$cur" "$3${f#"$2"}" "$f"
      awk '/-----BEGIN CERTIFICATE-----/ { p = 1 } p { print } /-----END CERTIFICATE-----/ { p = 0 }' "$f"
      echo "@@endcert"
    fi
  done
}
inside() {  # $1 a path inside the current container
  m=$(printf '%s\n' "$mounts" | awk -F'\t' -v p="$1" '
    $2 != "" && (p == $2 || index(p, $2 "/") == 1 || $2 == "/") { if (length($2) > best) { best = length($2); s = $1; d = $2 } }
    END { if (best) print s "\t" d }')
  if [ -n "$m" ]; then
    src=${m%%"$TAB"*}; dst=${m#*"$TAB"}
    if [ "$dst" = "/" ]; then emit "$src$1" "$src" ""; else emit "$src${1#"$dst"}" "$src" "$dst"; fi
  fi
}
for a in "$@"; do
  case "$a" in
    c:*) cur="${a#c:}"
      if mounts=$($T docker inspect -f '{{range .Mounts}}{{if eq .Type "bind"}}{{printf "%s\t%s\n" .Source .Destination}}{{end}}{{end}}' "$cur" 2>/dev/null); then
        envs=$($T docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$cur" 2>/dev/null)
      else
        echo "@@nocontainer $cur"; cur=""; fi ;;
    p:@env) [ -n "$cur" ] || continue
      paths=$(printf '%s\n' "$envs" | awk -F= '
        $1 ~ /^(CORE|ORDERER|FABRIC_CA)_/ && $1 ~ /(MSP|TLS|CERT|ROOTCA)/ && $1 !~ /KEY/ {
          v = substr($0, length($1) + 2); gsub(/[][,]/, " ", v); n = split(v, x, " ")
          for (i = 1; i <= n; i++) if (x[i] ~ /^\//) print x[i] }' | sort -u)
      [ -n "$paths" ] || paths="/etc/hyperledger/fabric/msp
/etc/hyperledger/fabric/tls"
      for p in $paths; do inside "$p"; done ;;
    p:*) [ -n "$cur" ] && inside "${a#p:}" ;;
    h:*) save="$cur"; cur="-"; emit "${a#h:}" "${a#h:}" ""; cur="$save" ;;
  esac
done
echo "@@end"
"""


def cert_args(inv: Inventory, nodes: list[Node]) -> list[tuple[str, list[str]]]:
    """``(node, script arguments)`` of every node whose certificates opskit reads (see the module docstring)."""
    out: list[tuple[str, list[str]]] = []
    for n in nodes:
        args: list[str] = []
        if n.kind in (NodeKind.ORDERER, NodeKind.PEER, NodeKind.CA):
            args = [f"c:{n.container_name}", "p:@env"]
        elif n.kind is NodeKind.CLI:
            paths: list[str] = []
            for org in inv.orgs.values():
                paths += [p for p in (org.admin_msp_path, org.admin_tls_cert) if p]
            paths += [m.tls_ca_file for m in inv.nodes.values() if m.tls_ca_file]
            if paths:
                args = [f"c:{n.container_name}", *(f"p:{p}" for p in dict.fromkeys(paths))]
        host_side = [p for p in (n.operations_ca_file, n.operations_cert_file) if p]
        args += [f"h:{p}" for p in host_side]
        if args:
            out.append((n.name, args))
    return out


def parse_certs(text: str, host: str, node_of: dict[str, str]) -> tuple[list[CertInfo], list[str]]:
    """The certificates in :data:`_CERTS` output; ``node_of`` maps container name -> node. Returns (certs,
    containers that were not found). A file that does not parse is skipped."""
    from cryptography import x509

    certs: list[CertInfo] = []
    seen: set[tuple[str, str, int]] = set()
    missing: list[str] = []
    head: list[str] | None = None
    body: list[str] = []
    host_node = node_of.get("-", "")
    for line in text.splitlines():
        if line.startswith("@@nocontainer "):
            missing.append(line.split(" ", 1)[1].strip())
        elif line.startswith("@@cert\t"):
            head, body = line.split("\t"), []
        elif line == "@@endcert" and head is not None:
            _, container, cpath, hpath = (head + ["", "", "", ""])[:4]
            try:
                found = x509.load_pem_x509_certificates("\n".join(body).encode())
            except ValueError:
                found = []
            node = node_of.get(container, host_node) if container != "-" else host_node
            for i, c in enumerate(found):
                if (container, hpath, i) in seen:   # one file named by two settings (TLS cert = cluster cert)
                    continue
                seen.add((container, hpath, i))
                certs.append(CertInfo(node, host, hpath, cpath if container != "-" else "", c.subject.rfc4514_string(),
                                      c.issuer.rfc4514_string(), c.not_valid_before_utc, c.not_valid_after_utc, i))
            head = None
        elif head is not None:
            body.append(line)
    return certs, missing


def read_host_certs(session: BaseSession, inv: Inventory, host: Host, nodes: list[Node]) -> list[CertInfo]:
    """Every certificate of ``nodes`` (all on ``host``), in one command."""
    env = {"DOCKER_HOST": host.docker_host} if host.docker_host else None
    specs = cert_args(inv, nodes)
    if not specs:
        return []
    argv: list[str] = []
    node_of: dict[str, str] = {}
    for node, args in specs:
        n = inv.nodes[node]
        node_of[n.container_name] = node
        argv += args
    res = session.run(script(_CERTS, *argv), timeout=60, env=env, check=False)
    certs, _missing = parse_certs(res.stdout, host.name, node_of)   # a missing container: the container check says so
    # host-side files: name them after the node that lists them
    by_path = {p: name for name, args in specs for a in args if a.startswith("h:") for p in [a[2:]]}
    return [c if c.node else _with_node(c, by_path) for c in certs]


def _with_node(c: CertInfo, by_path: dict[str, str]) -> CertInfo:
    from dataclasses import replace

    return replace(c, node=by_path.get(c.path, ""))


def cert_findings(inv: Inventory, certs: list[CertInfo], *, now: datetime | None = None,
                  per_cert: bool = False) -> list[Finding]:
    """Findings for ``certs``: one per certificate (``per_cert``, soonest expiry first: fleet.certs), or, for
    fleet.health, one per certificate that is not OK and one OK summary per node whose certificates are all fine."""
    now = now or datetime.now(timezone.utc)
    out: list[Finding] = []
    by_node: dict[str, list[tuple[CertInfo, Severity, str]]] = {}
    for c in sorted(certs, key=lambda c: (c.not_after, c.node, c.path, c.index)):
        warn, crit = limits(inv.thresholds_of(inv.hosts[c.host]))
        sev, why = expiry_status(c.not_before, c.not_after, now=now, warning=warn, critical=crit)
        by_node.setdefault(c.node, []).append((c, sev, why))
        if per_cert or sev is not Severity.OK:
            out.append(Finding("cert", sev, f"{c.path}: {c.subject}: {why}", host=c.host, node=c.node or None,
                               data={**c.to_dict(now), "severity_reason": why}))
    if not per_cert:
        for node, items in by_node.items():
            if all(sev is Severity.OK for _, sev, _ in items):
                c, _, why = items[0]
                out.append(Finding("cert", Severity.OK, f"{len(items)} certificate(s); soonest: {c.path}: {why}",
                                   host=c.host, node=node or None,
                                   data={"count": len(items), "soonest": c.to_dict(now)}))
    return out

"""``fleet.probe``: before provisioning, is every host ready for what the inventory places there?

Per host, in one SSH session (the remote engine):

* **placement**: the nodes the inventory puts on the host;
* **ssh**: the session opened (or why not);
* **docker**: ``docker info`` answers (engine version);
* **images** (own section): ``docker image inspect`` of every image the host's nodes need;
* **network** (own section): from this host, a TCP connect to every port the plan (:mod:`opskit.probe.plan`)
  says its nodes need, with a short plain HTTP/1.0 request to see what answers. Closed or filtered =
  CRITICAL; open but answering something the plan does not expect (HTTP on a gRPC port, ...) = WARNING.

The connects run on the source host (Python's socket module when the host has ``python3``, else bash's
``/dev/tcp``, which can only tell open from closed). See docs/probe.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from opskit.inventory.model import Inventory
from opskit.output.report import Finding, Report, Severity
from opskit.probe.plan import EXPECTED_ANSWERS, PortCheck, port_checks
from opskit.remote.command import script

#: runs the probe program with python3 when there is one, else checks only "open or not" with bash /dev/tcp
_NET_SCRIPT = r"""
py="$1"; ct="$2"; rt="$3"; shift 3
if command -v python3 >/dev/null 2>&1; then exec python3 -c "$py" "$ct" "$rt" "$@"; fi
T=""; command -v timeout >/dev/null 2>&1 && T="timeout $ct"
for t in "$@"; do
  h="${t%:*}"; p="${t##*:}"
  if command -v bash >/dev/null 2>&1; then
    if $T bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>/dev/null; then
      echo "{\"target\": \"$t\", \"connect\": \"ok\", \"answer\": \"unchecked\"}"
    else
      echo "{\"target\": \"$t\", \"connect\": \"failed\", \"error\": \"bash /dev/tcp could not connect\"}"
    fi
  else
    echo "{\"target\": \"$t\", \"connect\": \"unchecked\", \"error\": \"neither python3 nor bash on this host\"}"
  fi
done
"""

#: the connect-and-listen program (constant; Python 3.6+ stdlib): one JSON line per target
_PROBE_PY = r"""
import errno, json, socket, sys, threading, time
ct, rt = float(sys.argv[1]), float(sys.argv[2])
REQ = b"GET / HTTP/1.0\r\nHost: opskit-probe\r\nUser-Agent: opskit-probe\r\n\r\n"
KINDS = {errno.ECONNREFUSED: "refused", errno.EHOSTUNREACH: "unreachable", errno.ENETUNREACH: "unreachable"}
out = []
lock = threading.Lock()

def classify(data, end):
    if not data:
        return end
    if data.startswith(b"HTTP/"):
        return "https" if b"HTTP request to an HTTPS server" in data else "http"
    if len(data) >= 3 and data[0] in (0x15, 0x16) and data[1] == 3:
        return "tls"
    if len(data) >= 9 and data[3] in (0, 1, 3, 4, 6, 7, 8) and data[5] == 0 and data[4] < 0x40:
        return "http2"
    return "other"

def one(spec):
    host, port = spec.rsplit(":", 1)
    r = {"target": spec}
    t0 = time.time()
    try:
        s = socket.create_connection((host, int(port)), timeout=ct)
    except socket.timeout:
        r["connect"] = "timeout"
    except OSError as e:
        r["connect"] = KINDS.get(e.errno, "error")
        r["error"] = str(e)
    else:
        r["connect"] = "ok"
        r["connect_ms"] = round((time.time() - t0) * 1000, 1)
        data, end = b"", "silent"
        try:
            s.settimeout(rt)
            s.sendall(REQ)
            while len(data) < 256:
                chunk = s.recv(256)
                if not chunk:
                    end = "closed"
                    break
                data += chunk
                if data.startswith(b"HTTP/") and b"\r\n\r\n" in data:
                    break
        except socket.timeout:
            pass
        except OSError:
            end = "reset"
        finally:
            s.close()
        r["answer"] = classify(data, end)
        r["first_line"] = data.split(b"\r\n", 1)[0][:80].decode("latin-1") if data else ""
    with lock:
        out.append(r)

threads = [threading.Thread(target=one, args=(t,)) for t in sys.argv[3:]]
for t in threads:
    t.start()
for t in threads:
    t.join()
for r in out:
    print(json.dumps(r))
"""

ANSWER_WORDS = {
    "http": "answers HTTP/1.x", "https": "answers as an HTTPS server", "tls": "answers TLS",
    "http2": "answers HTTP/2", "closed": "closes the connection", "silent": "stays silent", "reset": "resets",
    "other": "answers non-HTTP bytes", "unchecked": "open (answer not checked: no python3 on the source host)",
}
EXPECT_WORDS = {
    "grpc": "gRPC (TLS or h2c: no HTTP/1.x answer)", "kafka": "the Kafka protocol (no HTTP answer)",
    "zookeeper": "the ZooKeeper protocol (no HTTP answer)", "http": "HTTP", "https": "HTTPS",
}


@dataclass
class ProbeOptions:
    connect_timeout: float = 3.0   #: seconds for one TCP connect
    read_timeout: float = 1.5      #: seconds to wait for an answer after connecting
    command_timeout: float = 30.0


def _host_work(inv: Inventory, checks: dict[str, list[PortCheck]], opts: ProbeOptions):  # type: ignore[no-untyped-def]
    def work(session: Any) -> dict[str, Any]:
        name = session.name
        out: dict[str, Any] = {"docker": None, "docker_error": None, "images": {}, "network": []}
        res = session.run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False,
                          timeout=opts.command_timeout)
        version = res.stdout.strip()
        if res.exit_code == 0 and version and "error" not in version.lower():
            out["docker"] = version
        elif res.exit_code == 127:
            out["docker_error"] = "docker is not installed"
        else:
            text = (res.stderr.strip() or res.stdout.strip() or f"exit code {res.exit_code}").splitlines()
            out["docker_error"] = text[-1][:300] if text else f"exit code {res.exit_code}"
        if out["docker"]:
            images = sorted({n.image for n in inv.nodes_on(name) if n.image})
            for image in images:
                r = session.run(["docker", "image", "inspect", "--format", "{{.Id}}", image], check=False,
                                timeout=opts.command_timeout)
                if r.exit_code == 0 and r.stdout.strip():
                    out["images"][image] = {"present": True, "id": r.stdout.strip().splitlines()[0]}
                else:
                    err = (r.stderr.strip().splitlines() or [f"exit code {r.exit_code}"])[-1]
                    out["images"][image] = {"present": False, "error": err[:300]}
        mine = checks.get(name, [])
        if mine:
            targets = sorted({c.endpoint for c in mine})
            r = session.run(script(_NET_SCRIPT, _PROBE_PY, f"{opts.connect_timeout:g}", f"{opts.read_timeout:g}",
                                   *targets), check=False,
                            timeout=opts.connect_timeout + opts.read_timeout + opts.command_timeout)
            got = {}
            for line in r.stdout.splitlines():
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                got[doc.get("target")] = doc
            if not got and r.exit_code != 0:
                err = (r.stderr.strip().splitlines() or [f"exit code {r.exit_code}"])[-1]
                got = {t: {"target": t, "connect": "unchecked", "error": f"probe failed: {err[:200]}"} for t in targets}
            out["network"] = got
        return out

    return work


def _placement(inv: Inventory, host: str) -> Finding:
    nodes = inv.nodes_on(host)
    if not nodes:
        return Finding("probe.placement", Severity.OK, "no nodes placed here", host=host, data={"nodes": []})
    text = ", ".join(f"{n.name} ({n.kind.value}{', ' + n.image if n.image else ''})" for n in nodes)
    return Finding("probe.placement", Severity.OK, f"{len(nodes)} node(s): {text}", host=host,
                   data={"nodes": [{"name": n.name, "kind": n.kind.value, "image": n.image, "ports": n.ports}
                                   for n in nodes]})


def _network_finding(chk: PortCheck, result: dict[str, Any] | None, reason_unchecked: str | None) -> Finding:
    data: dict[str, Any] = {"source_host": chk.source_host, "sources": chk.sources, "target": chk.target,
                            "target_host": chk.target_host, "address": chk.address, "port": chk.port,
                            "expect": chk.protocol, "role": chk.role, "why": chk.why,
                            "default_port": chk.default_port}
    head = (f"{', '.join(chk.sources)} -> {chk.target}@{chk.target_host} {chk.endpoint} ({chk.role}, "
            f"{'; '.join(chk.why)})")
    if reason_unchecked is not None or result is None:
        data["status"] = "unchecked"
        return Finding("probe.network", Severity.UNKNOWN, f"{head}: not checked: {reason_unchecked or 'no result'}",
                       host=chk.source_host, node=chk.target, data=data)
    data.update({k: result.get(k) for k in ("connect", "answer", "first_line", "connect_ms", "error")})
    connect = result.get("connect")
    if connect == "ok":
        answer = result.get("answer") or "unchecked"
        if answer == "unchecked" or answer in EXPECTED_ANSWERS[chk.protocol]:
            data["status"] = "open"
            return Finding("probe.network", Severity.OK, f"{head}: open, {ANSWER_WORDS.get(answer, answer)}",
                           host=chk.source_host, node=chk.target, data=data)
        data["status"] = "unexpected"
        first = f" ({result.get('first_line')!r})" if result.get("first_line") else ""
        return Finding("probe.network", Severity.WARNING,
                       f"{head}: open but {ANSWER_WORDS.get(answer, answer)}{first}; expected "
                       f"{EXPECT_WORDS[chk.protocol]}", host=chk.source_host, node=chk.target, data=data)
    if connect == "unchecked":
        data["status"] = "unchecked"
        return Finding("probe.network", Severity.UNKNOWN, f"{head}: not checked: {result.get('error')}",
                       host=chk.source_host, node=chk.target, data=data)
    data["status"] = "blocked"
    words = {"refused": "connection refused (closed, or rejected by a firewall)",
             "timeout": "no answer to the connect (filtered or host down)",
             "unreachable": "no route to the host"}.get(str(connect), f"cannot connect: {result.get('error')}")
    return Finding("probe.network", Severity.CRITICAL, f"{head}: {words}", host=chk.source_host, node=chk.target,
                   data=data)


def probe_fleet(inv: Inventory, hosts: list[Any] | None = None, options: Any = None,
                probe: ProbeOptions | None = None) -> Report:
    """Probe ``hosts`` (default: every host of the inventory) and return one report with all sections."""
    from opskit.remote.engine import Engine, EngineOptions

    probe = probe or ProbeOptions()
    chosen = list(hosts) if hosts is not None else list(inv.hosts.values())
    checks = port_checks(inv, [h.name for h in chosen])
    by_host: dict[str, list[PortCheck]] = {}
    for c in checks:
        by_host.setdefault(c.source_host, []).append(c)
    report = Report("fleet.probe", inventory=inv.source)
    with Engine(inv, options or EngineOptions.from_inventory(inv)) as engine:
        results = engine.run(chosen, _host_work(inv, by_host, probe))
    report.hosts = [r.outcome() for r in results]
    sections: dict[str, dict[str, int]] = {s: {"ok": 0, "warning": 0, "critical": 0, "unknown": 0}
                                           for s in ("placement", "ssh", "docker", "images", "network")}
    for r in results:
        host = inv.hosts[r.host]
        nodes = inv.nodes_on(r.host)
        report.add(_placement(inv, r.host))
        where = f"{inv.user_of(host)}@{host.address}:{inv.port_of(host)}"
        images_needed: dict[str, list[str]] = {}
        for n in nodes:
            if n.image:
                images_needed.setdefault(n.image, []).append(n.name)
        no_image = [n.name for n in nodes if not n.image]
        if not r.ok or r.value is None:
            why = r.error or r.status.value
            report.add(Finding("probe.ssh", Severity.CRITICAL, f"{where}: not reachable: {why}", host=r.host,
                               data={"status": r.status.value, "error": r.error}))
            unchecked = f"host {r.host} not reachable over SSH"
            report.add(Finding("probe.docker", Severity.UNKNOWN, f"not checked: {unchecked}", host=r.host))
            for image, users in images_needed.items():
                report.add(Finding("probe.images", Severity.UNKNOWN, f"{image}: not checked: {unchecked}",
                                   host=r.host, data={"image": image, "nodes": users}))
            for chk in by_host.get(r.host, []):
                report.add(_network_finding(chk, None, unchecked))
            continue
        v = r.value
        report.add(Finding("probe.ssh", Severity.OK, f"{where}: reachable ({r.duration_s:.2f}s for all checks)",
                           host=r.host, data={"status": r.status.value}))
        if v["docker"]:
            report.add(Finding("probe.docker", Severity.OK, f"engine {v['docker']} reachable", host=r.host,
                               data={"version": v["docker"]}))
        else:
            sev = Severity.CRITICAL if nodes else Severity.WARNING
            report.add(Finding("probe.docker", sev, f"engine not reachable: {v['docker_error']}"
                               + ("" if nodes else " (no nodes placed here)"), host=r.host,
                               data={"error": v["docker_error"]}))
        for image, users in sorted(images_needed.items()):
            data = {"image": image, "nodes": users}
            if not v["docker"]:
                report.add(Finding("probe.images", Severity.UNKNOWN,
                                   f"{image}: not checked: the Docker engine is not reachable", host=r.host, data=data))
                continue
            info = v["images"].get(image, {})
            data.update(info)
            if info.get("present"):
                report.add(Finding("probe.images", Severity.OK,
                                   f"{image} present ({info['id'][:19]}) for {', '.join(users)}", host=r.host,
                                   data=data))
            else:
                report.add(Finding("probe.images", Severity.CRITICAL,
                                   f"{image} missing, needed by {', '.join(users)} ({info.get('error', '')})",
                                   host=r.host, data=data))
        if no_image:
            report.add(Finding("probe.images", Severity.WARNING,
                               f"no image given in the inventory for {', '.join(no_image)}: not checked",
                               host=r.host, data={"nodes": no_image}))
        for chk in by_host.get(r.host, []):
            report.add(_network_finding(chk, v["network"].get(chk.endpoint), None))
    for f in report.findings:
        sections[f.check.removeprefix("probe.")][f.severity.label()] += 1
    report.meta["sections"] = sections
    report.meta["port_checks"] = len(checks)
    return report.finish()

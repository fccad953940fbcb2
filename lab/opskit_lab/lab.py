"""The lab: N network-namespace hosts with the Fabric-shaped fleet, a real BIND, Prometheus and moto.

    lab = Lab(LabConfig(hosts=6))
    lab.up()                 # builds everything, writes the inventory, returns the timings
    inv = lab.inventory()    # the written inventory, loaded like any other
    lab.down()               # removes everything it created; returns what it could not remove

    klab = Lab(LabConfig(name="k", hosts=4, consensus="kafka"))   # orderers on Kafka (real Kafka genesis blocks)
    klab.reset_fleet()       # orderers/Kafka/ZooKeeper/cli back to their first start (e.g. after a migration)

State lives in ``/var/tmp/opskit-lab/<name>/`` (``state.json`` records what was asked for and what was
written outside that directory). Every name the lab creates is derived from the lab name, so
:meth:`Lab.down` works from a fresh process, and on a half-built lab. Processes are stopped only by the pid
files the lab wrote. See docs/lab.md.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opskit.errors import OpskitError
from opskit_lab import netns
from opskit_lab.hosts import DOCKER_ETC, DOCKER_ROOT, LEDGER_ROOT, NODE_EXPORTER_PORT, HostConfig, LabHost, mounted_at, mounts_under
from opskit_lab.topology import (APP_CHANNEL, DOMAIN, ORDERER_ORGS, PEER_ORGS, SYSTEM_CHANNEL, NodePlan, Topology,
                                 default_topology, fabric_topology)
from opskit_lab.wait import port_open, wait_for

STATE_ROOT = Path("/var/tmp/opskit-lab")
DEFAULT_SUBNET = "10.77.0.0/24"
FIRST_HOST_OFFSET = 10            # vm1 = .11, vm2 = .12, ...
DNS_PORT = 53
PROMETHEUS_PORT = 9090
REGISTRY = ".created-paths.json"  # paths outside the state dirs that some lab created (mount points)
#: where the cli (tools) container sees the lab's crypto material (the admin MSPs), read-only
CLI_CRYPTO = "/etc/hyperledger/crypto"
#: seeds of the stand-in ledgers per consensus (lab/opskit_lab/standin/seed/SOURCES.md); None = the kind's default
SEEDS = {"etcdraft": None, "kafka": "kafka_genesis"}
#: the seed block whose etcdraft consenters (real TLS certs) go into the lab's consenters file
RAFT_GENESIS_SEED = Path(__file__).resolve().parent / "standin" / "seed" / "orderer1_h43" / "system-channel.block"
#: containers the recreate machinery leaves next to a node's container (opskit.container.recreate)
LEFTOVER_SUFFIXES = ("-opskit-old", "-opskit-failed")
KEPT_INFIX = "-opskit-kept-"
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


class LabError(OpskitError):
    """The lab could not be built, inspected or removed."""


#: the log rotation of a lab's containers unless LabConfig.rotate_logs is off
LAB_LOG_OPTS = {"max-size": "10m", "max-file": "3"}


@dataclass
class LabConfig:
    """What lab to build. Everything the lab creates is named after ``name``."""

    name: str = "lab"
    hosts: int = 6
    subnet: str = DEFAULT_SUBNET
    disk_mb: int = 384
    state_root: str = str(STATE_ROOT)
    inventory_out: str | None = None     #: also write the inventory here (removed again by down)
    fleet: bool = True                   #: start the Fabric stand-in containers
    services: bool = True                #: start BIND, Prometheus and moto
    consensus: str = "etcdraft"          #: etcdraft (default) or kafka: the orderers' channel configs and settings
    workers: int = 8                     #: threads for building hosts
    fabric: str | None = None            #: a Fabric release (dir or tarball): real orderers/peers instead of stand-ins
    mtls: bool = False                   #: real Fabric: orderers and peers require TLS client certificates
    ops_tls: bool = False                #: real Fabric: operations endpoints on HTTPS
    #: stand-in containers rotate their json logs (max-size 10m, max-file 3, as the real-Fabric lab's do), so a
    #: fresh lab is healthy; the test labs turn it off to keep the unrotated state that rollout.logging fixes
    rotate_logs: bool = True

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise LabError(f"lab name {self.name!r} must be 1-8 lower-case letters/digits, starting with a letter")
        net = ipaddress.ip_network(self.subnet, strict=True)
        if not net.is_private or net.version != 4:
            raise LabError(f"lab subnet {self.subnet} must be a private IPv4 network")
        if self.hosts < 1 or FIRST_HOST_OFFSET + self.hosts + 1 >= net.num_addresses:
            raise LabError(f"{self.hosts} hosts do not fit in {self.subnet}")
        if self.disk_mb < 64:
            raise LabError("disk_mb must be at least 64")
        if self.consensus not in SEEDS:
            raise LabError(f"consensus {self.consensus!r} must be one of {', '.join(SEEDS)}")
        if (self.mtls or self.ops_tls) and self.fabric is None:
            raise LabError("--mtls and --ops-tls need a real Fabric release (--fabric PATH)")
        if self.consensus == "kafka" and self.hosts < 4 and self.fabric is None:
            raise LabError(f"a Kafka lab needs at least 4 hosts (every orderer on port 7050, as the Kafka genesis "
                           f"blocks name them), not {self.hosts}")


@dataclass
class UpResult:
    """What :meth:`Lab.up` did and how long each phase took."""

    inventory: str
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)


def _ssh_keygen(path: Path, comment: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True)


class Lab:
    """A lab, built or not. Cheap to construct; :meth:`up` builds and :meth:`down` removes."""

    def __init__(self, config: LabConfig | None = None) -> None:
        self.config = config or LabConfig()
        c = self.config
        self.name = c.name
        self.state_root = Path(c.state_root)
        self.dir = self.state_root / c.name
        self.state_file = self.dir / "state.json"
        self.ns_dir = self.dir / "ns"
        self.keys_dir = self.dir / "keys"
        self.key_file = self.keys_dir / "id_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        self.inventory_path = self.dir / "inventory.yaml"
        self.crypto_dir = self.dir / "crypto"
        #: the consenters file (opskit.orderer.migration.load_consenters) of this lab's orderers, written by up
        self.consenters_file = self.dir / "consenters.yaml"
        net = ipaddress.ip_network(c.subnet)
        self.network = net
        self.gateway = str(net.network_address + 1)
        self.bridge = f"olb{c.name}"
        self.topology: Topology = (fabric_topology(c.hosts, kafka=c.consensus == "kafka") if c.fabric
                                   else default_topology(c.hosts))
        #: the real-Fabric network (opskit_lab.fabric) when the lab was asked for one, else None (stand-ins)
        self.fabric: Any = None
        if c.fabric:
            from opskit_lab.fabric import FabricNetwork

            self.fabric = FabricNetwork(self, c.fabric)
        self.hosts: dict[str, LabHost] = {}
        for i, hname in enumerate(self.topology.hosts, start=1):
            link = netns.HostLink(netns=f"opskit-{c.name}-{hname}", veth=f"olv{c.name}{i}",
                                  address=str(net.network_address + FIRST_HOST_OFFSET + i),
                                  prefixlen=net.prefixlen, gateway=self.gateway)
            self.hosts[hname] = LabHost(HostConfig(hname, link, self.dir / "hosts" / hname, self.ns_dir, c.disk_mb))
        self.faults: list[Any] = []   # active faults (opskit_lab.faults), undone by faults.undo_all
        self._bind: Any = None
        self._prometheus: Any = None
        self._moto: Any = None
        self._state_lock = threading.RLock()

    # -- loading an existing lab ---------------------------------------------------------------
    @classmethod
    def load(cls, name: str = "lab", state_root: str | os.PathLike[str] = STATE_ROOT) -> "Lab":
        """The lab ``name`` as recorded in its state file (or with default settings when there is none)."""
        state = Path(state_root) / name / "state.json"
        if state.exists():
            data = json.loads(state.read_text())
            known = set(LabConfig.__dataclass_fields__)
            return cls(LabConfig(**{k: v for k, v in data.get("config", {}).items() if k in known}))
        return cls(LabConfig(name=name, state_root=str(state_root)))

    def exists(self) -> bool:
        return self.dir.exists() or netns.link_exists(self.bridge)

    def owner(self) -> int | None:
        """The pid of the live process that built this lab and still runs (a test session), else None."""
        from opskit_lab import procs

        pid = self._read_state().get("owner_pid")
        if isinstance(pid, int) and pid != os.getpid() and procs.pid_alive(pid):
            return pid
        return None

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _write_state(self, **updates: Any) -> None:
        with self._state_lock:
            state = self._read_state()
            state.setdefault("config", asdict(self.config))
            state.update(updates)
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
            tmp.replace(self.state_file)

    # -- services (other helpers' classes, imported lazily) -------------------------------------
    @property
    def bind(self) -> Any:
        if self._bind is None:
            from opskit_lab.bind import BindServer, ZoneSpec

            zones = [ZoneSpec(f"{org}.{DOMAIN}", f"{org}-key", self._zone_records(org)) for org in self.org_names]
            self._bind = BindServer(self.dir / "bind", zones, port=DNS_PORT, listen=self.gateway)
        return self._bind

    @property
    def prometheus(self) -> Any:
        if self._prometheus is None:
            from opskit_lab.prometheus import PrometheusServer

            https = {}
            if self.fabric is not None and self.config.ops_tls:
                from opskit_lab.fabric import TLS_CA_BUNDLE

                cert, key = self.fabric.ops_client_pair
                https = {job: (str(self.fabric.crypto / TLS_CA_BUNDLE), str(cert), str(key))
                         for job in ("orderer", "peer")}
            self._prometheus = PrometheusServer(self.dir / "prometheus", self.scrape_targets(),
                                                port=PROMETHEUS_PORT, listen=self.gateway, https=https)
        return self._prometheus

    @property
    def moto(self) -> Any:
        if self._moto is None:
            from opskit_lab.moto import MotoServer

            port = self._read_state().get("moto_port")
            self._moto = MotoServer(self.dir / "moto", port=port)
            if port is None and self.dir.exists():
                self._write_state(moto_port=self._moto.port)
        return self._moto

    @property
    def org_names(self) -> list[str]:
        """The organisations of this lab's fleet, orderer orgs first."""
        if self.fabric is not None:
            return list(self.fabric.orgs)
        return [*ORDERER_ORGS, *PEER_ORGS]

    def _zone_records(self, org: str) -> dict[str, str]:
        recs: dict[str, str] = {}
        for n in self.topology.nodes:
            if n.org == org:
                recs[n.container.removesuffix(f".{org}.{DOMAIN}").removesuffix(f".{org}")] = self.hosts[n.host].address
                # what `dns.sync` writes too (opskit.dns.plan): <host>.hosts.<zone> for each host of the org
                recs[f"{n.host}.hosts.{org}.{DOMAIN}"] = self.hosts[n.host].address
        return recs

    def scrape_targets(self) -> dict[str, list[str]]:
        """Prometheus jobs: Fabric operations endpoints by kind, and every host's node_exporter."""
        jobs: dict[str, list[str]] = {"orderer": [], "peer": [], "node": []}
        if self.config.fleet:
            for n in self.topology.nodes:
                if n.operations_port:
                    jobs[n.kind].append(f"{self.hosts[n.host].address}:{n.operations_port}")
        jobs["node"] = [f"{h.address}:{NODE_EXPORTER_PORT}" for h in self.hosts.values()]
        return {k: v for k, v in jobs.items() if v}

    # -- accessors -------------------------------------------------------------------------------
    def host(self, name: str) -> LabHost:
        try:
            return self.hosts[name]
        except KeyError:
            raise LabError(f"lab {self.name} has no host {name!r} (hosts: {', '.join(self.hosts)})") from None

    def node(self, name: str) -> NodePlan:
        try:
            return self.topology.node(name)
        except KeyError:
            raise LabError(f"lab {self.name} has no node {name!r}") from None

    def host_of(self, node: str) -> LabHost:
        return self.hosts[self.node(node).host]

    def operations_url(self, node: str) -> str:
        n = self.node(node)
        if not n.operations_port:
            raise LabError(f"node {node} has no operations endpoint")
        if self.fabric is not None:
            return str(self.fabric.operations_url(n))
        return f"http://{self.hosts[n.host].address}:{n.operations_port}"

    def inventory(self) -> Any:
        """The written inventory, loaded and validated by opskit's own loader."""
        from opskit.inventory import load_inventory

        return load_inventory(str(self.inventory_path))

    # -- up ----------------------------------------------------------------------------------------
    def up(self, log: Callable[[str], None] | None = None) -> UpResult:
        """Build the whole lab; on failure tear down what was built and raise :class:`LabError`."""
        say = log or (lambda _msg: None)
        started = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str, fn: Callable[[], Any]) -> Any:
            t0 = time.monotonic()
            say(f"{name} ...")
            value = fn()
            phases[name] = round(time.monotonic() - t0, 3)
            say(f"{name}: {phases[name]:.2f}s")
            return value

        self._preflight()
        self._write_state(created=time.time(), inventory_outputs=[], owner_pid=os.getpid())
        try:
            phase("network", self._up_network)
            futures = {}
            with ThreadPoolExecutor(max_workers=3) as side:
                if self.fabric is not None:
                    futures["fabric_artifacts"] = side.submit(self._timed, phases, "fabric_artifacts",
                                                              self.fabric.prepare)
                if self.config.services:
                    futures["moto"] = side.submit(self._timed, phases, "moto", self._up_moto)
                    futures["bind"] = side.submit(self._timed, phases, "bind", self.bind.start)
                    if not (self.fabric is not None and self.config.ops_tls):
                        futures["prometheus"] = side.submit(self._timed, phases, "prometheus_start",
                                                            self.prometheus.start)
                phase("hosts", self._up_hosts)
                phase("known_hosts", self._scan_host_keys)
                if self.config.fleet and self.fabric is None:
                    phase("images", self._up_images)
                for f in futures.values():
                    f.result()
            if self.config.services and self.fabric is not None and self.config.ops_tls:
                # its HTTPS scrape jobs name the CA bundle and client pair that fabric_artifacts writes: a
                # Prometheus started before them drops those jobs for good (targets stay "unknown")
                phase("prometheus_start", self.prometheus.start)
            if self.config.fleet and self.fabric is None:
                phase("crypto", self._write_crypto)
            phase("inventory", self._write_inventory)
            if self.config.fleet and self.fabric is not None:
                phases.update({f"fabric_{k}": v for k, v in phase("fleet", lambda: self.fabric.start(say)).items()})
            elif self.config.fleet:
                phase("fleet", self._up_fleet)
            if self.config.services:
                phase("prometheus_targets", lambda: self.prometheus.wait_targets_up(timeout=60))
        except BaseException as exc:
            say(f"lab.up failed ({type(exc).__name__}: {exc}); removing what was built")
            problems = self.down()
            extra = f" (and down left: {'; '.join(problems)})" if problems else ""
            if isinstance(exc, LabError):
                raise LabError(f"{exc}{extra}") from exc
            if isinstance(exc, Exception):
                raise LabError(f"lab.up failed: {type(exc).__name__}: {exc}{extra}") from exc
            raise
        total = round(time.monotonic() - started, 3)
        self._write_state(up_seconds=total, phases=phases)
        return UpResult(str(self.inventory_path), total, phases)

    @staticmethod
    def _timed(phases: dict[str, float], name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.monotonic()
        value = fn()
        phases[name] = round(time.monotonic() - t0, 3)
        return value

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, loop devices, mounts)")
        missing = [b for b in ("ip", "nsenter", "unshare", "losetup", "mkfs.ext4", "dockerd", "docker", "/usr/sbin/sshd",
                               "ssh-keyscan", "ssh-keygen", "prometheus-node-exporter")
                   if shutil.which(b) is None]
        if self.config.services:
            missing += [b for b in ("named", "prometheus", "tsig-keygen") if shutil.which(b) is None]
        if missing:
            raise LabError(f"missing programs: {', '.join(missing)} (run `bash tests/install.sh` as root)")
        if self.fabric is not None:
            from opskit_lab.fabric import fabric_missing

            why = fabric_missing(self.config.fabric)
            if why:
                raise LabError(f"--fabric: {why}")
        if self.exists():
            raise LabError(f"lab {self.name} already exists ({self.dir}); run `inv lab.down --name {self.name}` first")
        used = netns.subnet_in_use(self.config.subnet)
        if used:
            raise LabError(f"subnet {self.config.subnet} is already routed on this machine ({used}); "
                           "choose another with --subnet")

    def _up_network(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ns_dir.mkdir(exist_ok=True)
        # namespace files must live on a private mount (util-linux unshare --mount=FILE)
        subprocess.run(["mount", "--bind", str(self.ns_dir), str(self.ns_dir)], check=True, capture_output=True)
        subprocess.run(["mount", "--make-private", str(self.ns_dir)], check=True, capture_output=True)
        for path in (DOCKER_ROOT, LEDGER_ROOT, DOCKER_ETC):   # mount points for the hosts' disks (inside their own namespace)
            self._ensure_mountpoint(Path(path))
        self.keys_dir.mkdir(exist_ok=True)
        _ssh_keygen(self.key_file, f"opskit-lab-{self.name}")
        netns.create_bridge(self.bridge, self.gateway, self.network.prefixlen)

    def _ensure_mountpoint(self, path: Path) -> None:
        if path.is_dir():
            return
        path.mkdir(parents=True)
        reg = self.state_root / REGISTRY
        paths = set(json.loads(reg.read_text())) if reg.exists() else set()
        paths.add(str(path))
        reg.write_text(json.dumps(sorted(paths)) + "\n")

    def _up_one_host(self, h: LabHost) -> None:
        netns.create_host(h.link, self.bridge)
        h.create_disk()
        h.create_namespaces(nameserver=self.gateway if self.config.services else None)
        h.write_sshd_config(Path(f"{self.key_file}.pub").read_text())
        h.start_dockerd()
        h.start_sshd()
        h.start_node_exporter()
        h.wait_sshd()
        h.wait_node_exporter()
        h.wait_dockerd()

    @staticmethod
    def _each(names: Iterable[str], fn: Callable[[str], Any], what: str, workers: int | None = None) -> None:
        """``fn(name)`` for every name in parallel; one LabError naming every name that failed."""
        names = list(names)
        with ThreadPoolExecutor(max_workers=max(1, min(workers or len(names), len(names)))) as pool:
            futures = {n: pool.submit(fn, n) for n in names}
        errors = []
        for n, fut in futures.items():
            try:
                fut.result()
            except Exception as exc:
                errors.append(f"{n}: {exc}")
        if errors:
            raise LabError(f"{what}: " + "; ".join(errors))

    def _up_hosts(self) -> None:
        self._each(self.hosts, lambda name: self._up_one_host(self.hosts[name]), "lab hosts failed",
                   self.config.workers)

    def _scan_host_keys(self) -> None:
        """known_hosts owned by the lab, from ssh-keyscan of every host (checked against the keys it generated)."""
        addrs = [h.address for h in self.hosts.values()]
        expected = {h.address: Path(f"{h.host_key}.pub").read_text().split()[1] for h in self.hosts.values()}

        def scan() -> str | None:
            proc = subprocess.run(["ssh-keyscan", "-T", "3", "-t", "ed25519", *addrs], capture_output=True, text=True)
            got = {}
            for line in proc.stdout.splitlines():
                parts = line.split()
                if len(parts) >= 3 and not line.startswith("#"):
                    got[parts[0]] = parts[2]
            missing = [a for a in addrs if a not in got]
            if missing:
                return None
            wrong = [a for a in addrs if got[a] != expected[a]]
            if wrong:
                raise LabError(f"ssh-keyscan returned unexpected host keys for {', '.join(wrong)}")
            return "".join(f"{a} ssh-ed25519 {got[a]}\n" for a in addrs)

        text = wait_for(scan, timeout=20, what="ssh-keyscan of every lab host")
        self.known_hosts.write_text(text)

    def _up_images(self) -> None:
        from opskit_lab.images import build_standin_images

        build_standin_images([h.docker for h in self.hosts.values()])

    def _up_moto(self) -> None:
        self.moto.start()

    # -- the fleet ---------------------------------------------------------------------------------
    def standin_spec(self, n: NodePlan) -> Any:
        from opskit_lab.standin.launch import StandinSpec

        listen = n.ports.get("listen")
        kw: dict[str, Any] = dict(name=n.name, kind=n.kind, container=n.container, org=n.org or "",
                                  network="host", log_opts=dict(LAB_LOG_OPTS) if self.config.rotate_logs else None)
        if n.kind in ("orderer", "peer"):
            kw.update(channels=list(n.channels), ops_port=n.operations_port, volumes={n.ledger_path: n.volume},
                      extra_ports=[listen] if listen else [], seed=SEEDS[self.config.consensus])
            if n.kind == "orderer":
                number = int(n.name.removeprefix("orderer"))
                # the other orderers, by their listen ports: where an accepted config update is replicated to
                cluster = [f"http://{self.hosts[o.host].address}:{o.ports['listen']}"
                           for o in self.topology.orderers if o.name != n.name]
                kw.update(node_id=number, leader=number == 1, cluster_size=len(self.topology.orderers),
                          consensus=self.config.consensus, mspid=f"OrdererOrg{number}MSP", pylib=True,
                          cluster=cluster)
            else:
                kw.update(mspid=f"Org{n.org.removeprefix('org')}MSP" if n.org else "",
                          leader=n.name.startswith("peer0."))
        elif n.kind == "cli":
            kw.update(ops_port=listen, pylib=True, binds={str(self.crypto_dir): CLI_CRYPTO})
        else:
            kw.update(ops_port=listen)  # kafka/zookeeper/couchdb answer on their usual port; cli has none
        return StandinSpec(**kw)

    # -- crypto material and the consenters file ----------------------------------------------------
    def admin_msp_path(self, org: str) -> str:
        """The admin MSP directory of ``org`` as the cli container sees it."""
        return f"{CLI_CRYPTO}/{org}/users/Admin@{org}.{DOMAIN}/msp"

    def _write_crypto(self) -> None:
        """Admin MSPs (a self-signed certificate per org admin) and the consenters file with the real TLS
        certificates of the seed's etcdraft consenters."""
        from datetime import datetime, timedelta, timezone

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.now(timezone.utc)
        for org in [*ORDERER_ORGS, *PEER_ORGS]:
            domain = f"{org}.{DOMAIN}"
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                              x509.NameAttribute(NameOID.ORGANIZATION_NAME, domain),
                              x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "admin"),
                              x509.NameAttribute(NameOID.COMMON_NAME, f"Admin@{domain}")])
            cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
                    .not_valid_after(now + timedelta(days=3650))
                    .sign(key, hashes.SHA256()))
            pem = cert.public_bytes(serialization.Encoding.PEM)
            msp = self.crypto_dir / org / "users" / f"Admin@{domain}" / "msp"
            for sub in ("signcerts", "keystore", "cacerts"):
                (msp / sub).mkdir(parents=True, exist_ok=True)
            (msp / "signcerts" / f"Admin@{domain}-cert.pem").write_bytes(pem)
            (msp / "cacerts" / f"ca.{domain}-cert.pem").write_bytes(pem)  # self-signed: its own CA
            (msp / "keystore" / "priv_sk").write_bytes(key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
            (msp / "keystore" / "priv_sk").chmod(0o600)
        self._write_consenters()

    def _write_consenters(self) -> None:
        from opskit.orderer.config import get_consensus, load_config_file

        raft = get_consensus(load_config_file(RAFT_GENESIS_SEED).config).raft
        if raft is None:
            raise LabError(f"{RAFT_GENESIS_SEED} holds no etcdraft metadata")
        lines = ["# The lab's orderers as Raft consenters (opskit.orderer.migration.load_consenters); TLS certificates",
                 "# of the real fixture network (tests/fixtures/fabric-2.5, raft_system-channel_genesis.block).",
                 "consenters:"]
        for c in raft.consenters:
            node = next((o for o in self.topology.orderers if o.container == c.host), None)
            if node is None:
                raise LabError(f"consenter {c.host} of the seed is not an orderer of the lab")
            org = node.org or ""
            tls = self.crypto_dir / org / "orderers" / c.host / "tls"
            tls.mkdir(parents=True, exist_ok=True)
            (tls / "server.crt").write_bytes(c.server_tls_cert)
            (tls / "client.crt").write_bytes(c.client_tls_cert)
            lines += [f"  - host: {c.host}", f"    port: {node.ports['listen']}",
                      f"    client_tls_cert: {(tls / 'client.crt').relative_to(self.dir)}",
                      f"    server_tls_cert: {(tls / 'server.crt').relative_to(self.dir)}"]
        o = raft.options
        lines += ["options:", f"  tick_interval: {o.tick_interval}", f"  election_tick: {o.election_tick}",
                  f"  heartbeat_tick: {o.heartbeat_tick}", f"  max_inflight_blocks: {o.max_inflight_blocks}",
                  f"  snapshot_interval_size: {o.snapshot_interval_size}"]
        self.consenters_file.write_text("\n".join(lines) + "\n")

    def _up_fleet(self) -> None:
        """Start every stand-in container over SSH (each host's own engine), then wait until they answer."""
        from opskit_lab.standin.launch import run_argv
        from opskit.remote import Engine

        inv = self.inventory()

        def start_host(session: Any) -> int:
            started = 0
            for n in self.topology.nodes_on(session.name):
                session.run(["docker", *run_argv(self.standin_spec(n))])
                started += 1
            if started:
                session.mark_changed()
            return started

        hosts = [inv.hosts[h] for h in self.topology.hosts if self.topology.nodes_on(h)]
        with Engine(inv) as engine:
            results = engine.run(hosts, start_host, host_timeout=120)
        bad = [f"{r.host}: {r.error}" for r in results if not r.ok]
        if bad:
            raise LabError("starting the stand-ins failed: " + "; ".join(bad))
        self.wait_fleet()

    def wait_fleet(self, timeout: float = 60) -> None:
        """Until every stand-in container runs and every operations endpoint answers /healthz."""
        from opskit_lab.standin.launch import get

        def answering() -> bool:
            for n in self.topology.nodes:
                if n.operations_port:
                    if get(self.operations_url(n.name), "/healthz", timeout=1.0)[0] not in (200, 503):
                        return False
            return all(self.running_containers(h) >= {n.container for n in self.topology.nodes_on(h)}
                       for h in self.topology.hosts)

        wait_for(answering, timeout=timeout, what="every stand-in to answer")

    def start_standin(self, name: str, env: dict[str, str] | None = None, *, replace: bool = False) -> None:
        """Start node ``name``'s container from its spec on its host's engine (``env`` added to the spec's).

        ``replace=True`` removes the node's current container first (its volumes stay): a restart with other
        settings, e.g. an orderer restarted with the Raft cluster settings (``ORDERER_CONSENSUS_WALDIR``).
        Returns once the container runs; use :meth:`wait_fleet` (or the node's endpoint) to wait for it to answer.
        """
        from opskit_lab.standin.launch import run_argv

        n = self.node(name)
        h = self.hosts[n.host]
        spec = self.standin_spec(n)
        spec.env.update(env or {})
        if replace:
            subprocess.run([*h.docker, "rm", "-f", n.container], capture_output=True, text=True, timeout=60)
        proc = subprocess.run([*h.docker, *run_argv(spec)], capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise LabError(f"{n.host}: starting {n.container} failed: {proc.stderr.strip()}")

    def reset_fleet(self, kinds: tuple[str, ...] | list[str] = ("orderer", "kafka", "zookeeper", "cli"),
                    timeout: float = 60) -> dict[str, float]:
        """Put the nodes of ``kinds`` back to their first start: remove their containers (and the leftovers the
        recreate machinery names ``<container>-opskit-old`` / ``-opskit-failed`` / ``-opskit-kept-*``) and their
        named volumes, start them again from their specs and wait until they answer.

        Every engine is cleared before any container starts again, so a starting orderer cannot pull a config
        from an old one (see docs/lab-standins.md). Returns the seconds of each phase.
        """
        from opskit_lab.standin.launch import get, run_argv

        if not self.config.fleet:
            raise LabError(f"lab {self.name} has no fleet")
        wanted = set(kinds)
        unknown = wanted - {n.kind for n in self.topology.nodes}
        if unknown:
            raise LabError(f"unknown node kinds {', '.join(sorted(unknown))}")
        nodes = [n for n in self.topology.nodes if n.kind in wanted]
        by_host: dict[str, list[NodePlan]] = {}
        for n in nodes:
            by_host.setdefault(n.host, []).append(n)
        times: dict[str, float] = {}

        def docker(host: str, *args: str, check: bool = True) -> str:
            proc = subprocess.run([*self.hosts[host].docker, *args], capture_output=True, text=True, timeout=120)
            if check and proc.returncode != 0:
                raise LabError(f"{host}: docker {' '.join(args[:2])} failed: {proc.stderr.strip()}")
            return proc.stdout

        def remove(host: str) -> None:
            mine = by_host[host]
            present = docker(host, "ps", "-a", "--format", "{{.Names}}").split()
            doomed = [c for c in present for n in mine
                      if c == n.container or c in {n.container + s for s in LEFTOVER_SUFFIXES}
                      or c.startswith(n.container + KEPT_INFIX)]
            volumes = {v for n in mine for v in self.standin_spec(n).volumes.values()}
            if doomed:
                listing = docker(host, "inspect", "--format",
                                 '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', *doomed,
                                 check=False)
                volumes |= set(listing.split())
                docker(host, "rm", "-f", *doomed)
            existing = set(docker(host, "volume", "ls", "-q").split())
            if volumes & existing:
                docker(host, "volume", "rm", "-f", *sorted(volumes & existing))

        def start(host: str) -> None:
            for n in by_host[host]:
                docker(host, *run_argv(self.standin_spec(n)))

        def each(fn: Callable[[str], None]) -> None:
            self._each(by_host, fn, "reset_fleet failed")

        t0 = time.monotonic()
        each(remove)
        times["remove"] = round(time.monotonic() - t0, 3)
        t1 = time.monotonic()
        each(start)
        times["start"] = round(time.monotonic() - t1, 3)
        t2 = time.monotonic()

        def answering() -> bool:
            for n in nodes:
                port = n.operations_port or n.ports.get("listen")
                if port and get(f"http://{self.hosts[n.host].address}:{port}", "/healthz", timeout=1.0)[0] \
                        not in (200, 503):
                    return False
            return all(self.running_containers(h) >= {n.container for n in ns} for h, ns in by_host.items())

        wait_for(answering, timeout=timeout, what=f"the reset {', '.join(sorted(wanted))} stand-ins to answer")
        times["wait"] = round(time.monotonic() - t2, 3)
        times["total"] = round(time.monotonic() - t0, 3)
        return times

    def running_containers(self, host: str) -> set[str]:
        h = self.host(host)
        proc = subprocess.run([*h.docker, "ps", "--format", "{{.Names}}"], capture_output=True, text=True, timeout=20)
        if proc.returncode != 0:
            raise LabError(f"{host}: docker ps failed: {proc.stderr.strip()}")
        return set(proc.stdout.split())

    # -- the inventory -----------------------------------------------------------------------------
    def inventory_document(self) -> dict[str, Any]:
        """The lab as an inventory (version 2), ready for every opskit task."""
        hosts: dict[str, Any] = {}
        for name, h in self.hosts.items():
            hosts[name] = {
                "address": h.address,
                "home": "/root",
                "docker_data_root": DOCKER_ROOT,
                "ledger_paths": [LEDGER_ROOT],
                "labels": {"role": self.topology.role_of(name), "lab": self.name},
            }
        from opskit_lab.fabric import msp_id_of

        orgs: dict[str, Any] = {}
        for org in self.org_names:
            orgs[org] = {"kind": "orderer" if org.startswith("orderer") else "peer", "domain": f"{org}.{DOMAIN}",
                         "msp_id": msp_id_of(org)}
        if self.config.fleet:
            for org in orgs:
                orgs[org]["admin_msp_path"] = self.admin_msp_path(org)
                if self.fabric is not None:  # the admin's TLS client pair (osnadmin; mutual TLS)
                    orgs[org]["admin_tls_cert"] = f"{CLI_CRYPTO}/{org}/users/Admin@{org}.{DOMAIN}/tls/client.crt"
                    orgs[org]["admin_tls_key"] = f"{CLI_CRYPTO}/{org}/users/Admin@{org}.{DOMAIN}/tls/client.key"
        if self.config.services:
            for org in orgs:
                orgs[org]["dns"] = {
                    "server": self.gateway, "port": DNS_PORT, "zone": f"{org}.{DOMAIN}",
                    "tsig_key_name": f"{org}-key", "tsig_key_file": str(self.bind.key_file(f"{org}-key")),
                    "tsig_algorithm": "hmac-sha256",
                }
        nodes: dict[str, Any] = {}
        if self.config.fleet and self.fabric is not None:
            nodes = self.fabric.inventory_nodes()
        elif self.config.fleet:
            from opskit_lab.standin.launch import IMAGE

            for n in self.topology.nodes:
                spec = self.standin_spec(n)
                entry: dict[str, Any] = {"kind": n.kind, "host": n.host, "container": n.container, "image": IMAGE}
                if n.org:
                    entry["org"] = n.org
                if n.kind in ("orderer", "peer"):
                    entry["hostname"] = n.container
                    entry["operations"] = self.operations_url(n.name)
                    if n.ports.get("listen"):
                        entry["listen_port"] = n.ports["listen"]
                if n.port_list:
                    entry["ports"] = n.port_list
                if spec.volumes:
                    entry["volumes"] = dict(spec.volumes)
                nodes[n.name] = entry
        channels: dict[str, Any] = {}
        if self.config.fleet:
            orderers = [n.name for n in self.topology.orderers]
            if self.fabric is None or self.config.consensus == "kafka":
                channels[SYSTEM_CHANNEL] = {"system": True, "orderers": orderers}
            channels[APP_CHANNEL] = {"orderers": orderers, "peers": [n.name for n in self.topology.peers]}
        doc: dict[str, Any] = {
            "version": 2,
            "name": self.name,
            "defaults": {
                "ssh_user": "root", "key_file": str(self.key_file), "known_hosts": str(self.known_hosts),
                "strict_host_keys": True, "connect_timeout": 5, "host_timeout": 60, "workers": 32,
                "docker_data_root": DOCKER_ROOT,
            },
            "hosts": hosts, "orgs": orgs, "nodes": nodes, "channels": channels,
        }
        if self.config.fleet and self.fabric is None:
            # the peer CLI stand-in's built-in chaincode (docs/load.md): what load.tx and cron's load job invoke
            doc["chaincode"] = {"name": "opskitcc", "channel": APP_CHANNEL, "invoke_args": ["invoke", "a", "b", "1"],
                                "query_args": ["query", "a"]}
        if self.config.services:
            doc["monitoring"] = {"prometheus_url": f"http://{self.gateway}:{PROMETHEUS_PORT}"}
            doc["aws"] = {"region": "eu-central-1", "endpoint_url": self.moto.url}
        return doc

    def _write_inventory(self) -> None:
        import io

        from ruamel.yaml import YAML

        yaml = YAML()
        yaml.default_flow_style = False
        yaml.width = 4096  # long paths (admin_msp_path) on one line
        buf = io.StringIO()
        buf.write(f"# The lab {self.name!r}: written by `inv lab.up`, removed by `inv lab.down`. Do not edit.\n")
        yaml.dump(self.inventory_document(), buf)
        text = buf.getvalue()
        self.inventory_path.write_text(text)
        outputs = []
        if self.config.inventory_out:
            out = Path(self.config.inventory_out).resolve()
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text)
            outputs.append(str(out))
        self._write_state(inventory_outputs=outputs)
        self.inventory()  # validate with opskit's loader now, not in the first task that uses it

    # -- status --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """What runs: per host sshd/engine/node_exporter/disk/containers, and the services."""
        out: dict[str, Any] = {"name": self.name, "exists": self.exists(), "state_dir": str(self.dir),
                               "inventory": str(self.inventory_path) if self.inventory_path.exists() else None,
                               "hosts": {}, "services": {}}
        if not out["exists"]:
            return out
        state = self._read_state()
        out["up_seconds"] = state.get("up_seconds")

        def one(h: LabHost) -> dict[str, Any]:
            d: dict[str, Any] = {"address": h.address, "netns": netns.netns_exists(h.link.netns),
                                 "link_up": netns.link_is_up(h.link.veth), "sshd": h.sshd_up(),
                                 "docker": h.dockerd_up(),
                                 "node_exporter": port_open(h.address, NODE_EXPORTER_PORT)}
            if mounted_at(h.disk_mnt):
                st = os.statvfs(h.disk_mnt)
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
                avail = st.f_bavail * st.f_frsize
                d["disk_used_pct"] = round(100.0 * used / max(1, used + avail), 1)
            expected = {n.container for n in self.topology.nodes_on(h.name)} if self.config.fleet else set()
            running: set[str] = set()
            if d["docker"]:
                try:
                    running = self.running_containers(h.name)
                except (LabError, subprocess.TimeoutExpired):
                    pass
            d["containers_expected"] = len(expected)
            d["containers_running"] = len(expected & running)
            d["containers_missing"] = sorted(expected - running)
            return d

        with ThreadPoolExecutor(max_workers=max(1, min(16, len(self.hosts)))) as pool:
            for name, d in zip(self.hosts, pool.map(one, self.hosts.values())):
                out["hosts"][name] = d
        if self.config.services:
            from opskit_lab import procs

            out["services"]["bind"] = {"address": f"{self.gateway}:{DNS_PORT}",
                                       "running": bool(self.bind.running())}
            pid = procs.read_pid(self.prometheus.pidfile)
            out["services"]["prometheus"] = {"url": self.prometheus.url,
                                             "running": bool(pid and procs.pid_alive(pid))}
            out["services"]["moto"] = {"url": self.moto.url, "running": self.moto.running()}
        return out

    def problems(self, disk_limit_pct: float = 50.0) -> list[str]:
        """A quick health check (about 0.1 s): what is not as :meth:`up` left it. Empty = healthy.

        Used after every test to prove that faults were undone.
        """
        from opskit_lab.standin.launch import get

        found: list[str] = []
        for name, h in self.hosts.items():
            if not netns.link_is_up(h.link.veth):
                found.append(f"{name}: link down")
            if not h.sshd_up():
                found.append(f"{name}: sshd not answering")
            elif _proc_state(procs_read(h.pid_sshd)) == "T":
                found.append(f"{name}: sshd stopped (SIGSTOP)")
            if not h.dockerd_up():
                found.append(f"{name}: Docker engine down")
            if not port_open(h.address, NODE_EXPORTER_PORT, timeout=0.5):
                found.append(f"{name}: node_exporter not answering")
            if mounted_at(h.disk_mnt):
                st = os.statvfs(h.disk_mnt)
                used = (st.f_blocks - st.f_bfree) * st.f_frsize
                pct = 100.0 * used / max(1, used + st.f_bavail * st.f_frsize)
                if pct > disk_limit_pct:
                    found.append(f"{name}: disk {pct:.0f}% used")
            else:
                found.append(f"{name}: disk not mounted")
        if self.config.fleet and self.fabric is not None:
            found += self.fabric.problems()
        elif self.config.fleet:
            for n in self.topology.nodes:
                if n.operations_port:
                    try:
                        code, body = get(self.operations_url(n.name), "/lab/state", timeout=2.0)
                    except OSError as exc:
                        found.append(f"{n.name}: operations endpoint: {exc}")
                        continue
                    if code != 200:
                        found.append(f"{n.name}: /lab/state HTTP {code}")
                    else:
                        state = json.loads(body)
                        if state.get("stalled"):
                            found.append(f"{n.name}: chain stalled")
                        if state.get("tx_mode", "normal") != "normal":
                            found.append(f"{n.name}: transaction fault left on ({state['tx_mode']})")
            for host in self.topology.hosts:
                if not self.hosts[host].dockerd_up():
                    continue
                missing = {n.container for n in self.topology.nodes_on(host)} - self.running_containers(host)
                if missing:
                    found.append(f"{host}: containers not running: {', '.join(sorted(missing))}")
        if self.config.services:
            if not self.bind.running():
                found.append("bind not running")
            elif _proc_state(self.bind.pid) == "T":
                found.append("bind stopped (SIGSTOP)")
        return found

    # -- down -------------------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Remove everything this lab created; safe on a half-built lab. Returns what could not be removed."""
        problems: list[str] = []
        from opskit_lab import faults

        try:
            faults.undo_all(self)
        except Exception as exc:
            problems.append(f"undoing faults: {exc}")
        if self.fabric is not None and self.dir.exists():
            try:
                self.fabric.stop_services()
            except Exception as exc:
                problems.append(f"stopping the Kafka store: {exc}")
        if self.config.services and self.dir.exists():
            for what in ("prometheus", "bind", "moto"):
                try:
                    getattr(self, what).stop()
                except ImportError:
                    pass
                except Exception as exc:
                    problems.append(f"stopping {what}: {exc}")
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(self.hosts)))) as pool:
            for result in pool.map(lambda h: h.teardown(), self.hosts.values()):
                problems.extend(result)
        # network: namespaces and veths named after this lab (also ones from a lab with more hosts)
        prefix = f"opskit-{self.name}-"
        names = {h.link.netns for h in self.hosts.values()}
        if netns.NETNS_DIR.is_dir():
            names |= {p.name for p in netns.NETNS_DIR.iterdir() if p.name.startswith(prefix)}
        for ns in sorted(names):
            try:
                netns.delete_netns(ns)
            except netns.NetnsError as exc:
                problems.append(str(exc))
        veths = {h.link.veth for h in self.hosts.values()}
        veths |= {p.name for p in Path("/sys/class/net").iterdir() if re.fullmatch(f"olv{self.name}[0-9]+", p.name)}
        for v in sorted(veths):
            try:
                netns.delete_link(v)
            except netns.NetnsError as exc:
                problems.append(str(exc))
        try:
            netns.delete_link(self.bridge)
        except netns.NetnsError as exc:
            problems.append(str(exc))
        # leftover mounts under the state dir (namespace files, the private ns dir, disks)
        if self.dir.exists():
            for mnt in mounts_under(self.dir):
                proc = subprocess.run(["umount", mnt], capture_output=True, text=True)
                if proc.returncode != 0:
                    proc = subprocess.run(["umount", "-l", mnt], capture_output=True, text=True)
                    if proc.returncode != 0:
                        problems.append(f"umount {mnt}: {proc.stderr.strip()}")
        # loop devices of disks this lab made (also of hosts that the state file no longer knows about)
        listing = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        for line in listing.splitlines():
            if f"({self.dir}/" in line:
                dev = line.split(":", 1)[0]
                proc = subprocess.run(["losetup", "-d", dev], capture_output=True, text=True)
                if proc.returncode != 0:
                    problems.append(f"losetup -d {dev}: {proc.stderr.strip()}")
        state = self._read_state()
        for out in state.get("inventory_outputs", []):
            Path(out).unlink(missing_ok=True)
        if self.dir.exists():
            if mounts_under(self.dir):
                problems.append(f"{self.dir} still has mounts; not deleted")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
                if self.dir.exists():
                    problems.append(f"could not delete {self.dir}")
        self._release_mountpoints()
        self.faults.clear()
        return problems

    def _release_mountpoints(self) -> None:
        """Remove the mount points some lab created once no lab is left."""
        reg = self.state_root / REGISTRY
        if not self.state_root.is_dir():
            return
        others = [p for p in self.state_root.iterdir() if p.is_dir()]
        if others:
            return
        if reg.exists():
            for p in json.loads(reg.read_text()):
                try:
                    if not mounted_at(p):
                        Path(p).rmdir()
                except OSError:
                    pass
            reg.unlink(missing_ok=True)
        try:
            self.state_root.rmdir()
        except OSError:
            pass

    def leftovers(self) -> list[str]:
        """Anything of this lab still present (empty after a clean :meth:`down`)."""
        found = []
        if self.dir.exists():
            found.append(f"state dir {self.dir}")
        if netns.link_exists(self.bridge):
            found.append(f"bridge {self.bridge}")
        if netns.NETNS_DIR.is_dir():
            found += [f"netns {p.name}" for p in netns.NETNS_DIR.iterdir() if p.name.startswith(f"opskit-{self.name}-")]
        found += [f"link {p.name}" for p in Path("/sys/class/net").iterdir()
                  if re.fullmatch(f"olv{self.name}[0-9]+", p.name)]
        # this lab's directory and below only: lab "pytest" must not count the mounts of a lab "pytestf"
        found += [f"mount {m}" for m in mounts_under(self.dir)]
        proc = subprocess.run(["losetup", "-a"], capture_output=True, text=True)
        found += [f"loop {line.split(':', 1)[0]}" for line in proc.stdout.splitlines() if f"({self.dir}/" in line]
        return found


def status_report(status: dict[str, Any]) -> Any:
    """A :class:`~opskit.output.report.Report` of :meth:`Lab.status` (CRITICAL for anything down)."""
    from opskit.output.report import Finding, Report, Severity

    report = Report(task="lab.status", inventory=status.get("inventory"))
    report.meta.update({"lab": status["name"], "state_dir": status["state_dir"], "up_seconds": status.get("up_seconds")})
    if not status["exists"]:
        report.add(Finding("lab", Severity.UNKNOWN, f"lab {status['name']} is not up"))
        return report.finish()
    for host, d in status["hosts"].items():
        down = [k for k in ("netns", "link_up", "sshd", "docker", "node_exporter") if not d.get(k)]
        sev = Severity.CRITICAL if down or d.get("containers_missing") else Severity.OK
        parts = [f"{d['address']}", "down: " + ", ".join(down) if down else "sshd, docker, node_exporter up"]
        if "disk_used_pct" in d:
            parts.append(f"disk {d['disk_used_pct']}%")
        parts.append(f"containers {d['containers_running']}/{d['containers_expected']}")
        if d.get("containers_missing"):
            parts.append("missing: " + ", ".join(d["containers_missing"]))
        report.add(Finding("lab.host", sev, "; ".join(parts), host=host, data=d))
    for name, d in status["services"].items():
        where = d.get("url") or d.get("address")
        report.add(Finding(f"lab.{name}", Severity.OK if d["running"] else Severity.CRITICAL,
                           f"{name} {'running' if d['running'] else 'NOT running'} at {where}", data=d))
    return report.finish()


def procs_read(pidfile: Path) -> int | None:
    from opskit_lab import procs

    return procs.read_pid(pidfile)


def _proc_state(pid: int | None) -> str:
    if pid is None:
        return ""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""

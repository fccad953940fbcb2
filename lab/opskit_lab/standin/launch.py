"""How a stand-in node is started: as a container (``run_argv``) or as a local process (``start_local``).

The stand-in program itself is ``node.py`` next to this file (stdlib only). See docs/lab-standins.md.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from opskit_lab import procs
from opskit_lab.wait import wait_for

IMAGE = "opskit-lab/standin:1"
NODE_PY = Path(__file__).with_name("node.py")
LEDGER_KINDS = ("orderer", "peer")
KINDS = ("orderer", "peer", "kafka", "zookeeper", "couchdb", "cli")
DATA_ROOT = "/var/hyperledger/production"
#: where a stand-in container sees the project's Python libraries (``StandinSpec(pylib=True)``)
PYLIB = "/opt/pylib"

#: Fabric's defaults for the operations endpoint (FABRIC-NOTES.md), used when ``ops_port`` is None.
DEFAULT_OPS_PORT = {"orderer": 8443, "peer": 9443}

#: The real data paths of each kind (what a backup copies); named volumes are mounted here by default.
DATA_PATHS: dict[str, list[str]] = {
    "orderer": [f"{DATA_ROOT}/orderer"],
    "peer": [DATA_ROOT],
    "zookeeper": ["/data", "/datalog"],
    "kafka": ["/tmp/kafka-logs"],
    "couchdb": ["/opt/couchdb/data"],
    "cli": [],
}


class PylibError(RuntimeError):
    """The Python packages to mount into stand-in containers cannot be found in this interpreter."""


@functools.lru_cache(maxsize=1)
def pylib_mounts() -> tuple[tuple[str, str], ...]:
    """(host path, container path) of the packages a stand-in needs for channel configs: the running
    interpreter's ``google`` (protobuf) and ``fabric_protos`` packages and this opskit package.

    Found from the modules' locations without importing them; the lab hosts share this machine's filesystem,
    so the same paths work in every lab engine. Debian's /usr/bin/python3 (3.11, what the containers run)
    imports them (protobuf's upb extension is built for CPython 3.11).
    """
    proto = importlib.util.find_spec("google.protobuf")
    fabric = importlib.util.find_spec("fabric_protos")
    if proto is None or not proto.submodule_search_locations or fabric is None or not fabric.submodule_search_locations:
        raise PylibError("google.protobuf / fabric_protos are not installed for this interpreter "
                         "(pip install hyperledger-fabric-protos)")
    google = Path(list(proto.submodule_search_locations)[0]).resolve().parent
    fabric_dir = Path(list(fabric.submodule_search_locations)[0]).resolve()
    spec = importlib.util.find_spec("opskit")
    if spec is None or not spec.submodule_search_locations:
        raise PylibError("opskit is not installed for this interpreter")
    opskit_dir = Path(list(spec.submodule_search_locations)[0]).resolve()
    return ((str(google), f"{PYLIB}/google"), (str(fabric_dir), f"{PYLIB}/fabric_protos"),
            (str(opskit_dir), f"{PYLIB}/opskit"))


def ledger_dir(kind: str, channel: str) -> str:
    """Path of a channel's block files inside a stand-in container (Fabric's real layout)."""
    if kind == "orderer":
        return f"{DATA_ROOT}/orderer/chains/{channel}"
    if kind == "peer":
        return f"{DATA_ROOT}/ledgersData/chains/chains/{channel}"
    raise ValueError(f"{kind} keeps no ledger")


@dataclass
class StandinSpec:
    """One stand-in container. The first twelve fields are the interface the lab orchestration uses.

    ``volumes`` maps a container path to a named volume; when empty, one volume per real data path of the
    kind is used (``<container>-<n>``). ``seed`` is a seed name baked into the image (``orderer1_h43``,
    ``peer0.org1_h43``), an absolute path inside the container, ``"none"`` (an empty chain with a lab
    genesis block), or None for the kind's default seed. ``log_opts`` None means the json-file driver
    with NO rotation (the state the log-rotation rollout fixes); a dict is passed as ``--log-opt k=v``.
    ``extra_ports`` are published as well and answered by the stand-in (e.g. 7050, 7051).
    ``pylib`` bind-mounts the project's protobuf libraries and opskit read-only at ``/opt/pylib`` (with
    ``PYTHONPATH``), which orderers need for channel configs and the cli for ``peer channel`` commands.
    ``cluster`` (orderers) are the base URLs of the other orderers, for config replication.
    """

    name: str
    kind: str
    container: str = ""
    org: str = ""
    channels: list[str] = field(default_factory=lambda: ["mychannel"])
    ops_port: int | None = None
    volumes: dict[str, str] = field(default_factory=dict)
    seed: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    extra_ports: list[int] = field(default_factory=list)
    image: str = IMAGE
    log_opts: dict[str, str] | None = None
    # optional extras (not needed by the orchestration)
    publish_ip: str = ""          # publish on this host address only ("" = all addresses of the host)
    mspid: str = ""
    node_id: int = 1
    leader: bool = False
    cluster_size: int = 4
    consensus: str = "etcdraft"   # orderers: etcdraft or kafka
    auto_advance: float = 0.0     # seconds between automatic blocks (0 = only when the harness asks)
    heartbeat: float = 5.0
    network: str | None = None
    node_args: list[str] = field(default_factory=list)
    pylib: bool = False
    cluster: list[str] = field(default_factory=list)
    binds: dict[str, str] = field(default_factory=dict)   # host path -> container path, mounted read-only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown stand-in kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not self.container:
            self.container = self.name
        if self.ops_port is None:
            self.ops_port = DEFAULT_OPS_PORT.get(self.kind)
        if not self.volumes:
            self.volumes = {path: f"{self.container}-{i}" if i else f"{self.container}-data"
                            for i, path in enumerate(DATA_PATHS[self.kind])}


def node_args(spec: StandinSpec) -> list[str]:
    """Arguments of node.py for this spec (the image's entrypoint is ``python3 node.py``)."""
    args = ["--kind", spec.kind, "--name", spec.name, "--port", str(spec.ops_port or 0),
            "--heartbeat", f"{spec.heartbeat:g}"]
    for port in spec.extra_ports:
        args += ["--extra-port", str(port)]
    if spec.kind in LEDGER_KINDS:
        args += ["--channels", ",".join(spec.channels), "--node-id", str(spec.node_id),
                 "--leader", "1" if spec.leader else "0"]
        if spec.seed is not None:
            args += ["--seed", spec.seed]
        if spec.mspid:
            args += ["--mspid", spec.mspid]
        if spec.auto_advance:
            args += ["--auto-advance", f"{spec.auto_advance:g}"]
        if spec.kind == "orderer":
            args += ["--cluster-size", str(spec.cluster_size), "--consensus", spec.consensus]
            for url in spec.cluster:
                args += ["--cluster", url]
    else:
        for path in spec.volumes:
            args += ["--touch", path]
    return args + list(spec.node_args)


def run_argv(spec: StandinSpec) -> list[str]:
    """``docker`` arguments that start the stand-in: ``["run", "-d", "--name", ...]`` (prefix the docker argv)."""
    argv = ["run", "-d", "--name", spec.container, "--hostname", spec.name, "--restart", "no",
            "--label", "opskit_lab=1", "--label", f"opskit.node={spec.name}", "--label", f"opskit.kind={spec.kind}"]
    if spec.org:
        argv += ["--label", f"opskit.org={spec.org}"]
    argv += ["--log-driver", "json-file"]
    for key, value in (spec.log_opts or {}).items():
        argv += ["--log-opt", f"{key}={value}"]
    argv += ["-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"]
    env = dict(spec.env)
    if spec.pylib:
        for host_path, target in pylib_mounts():
            argv += ["-v", f"{host_path}:{target}:ro"]
        env.setdefault("PYTHONPATH", PYLIB)
    for host_path, target in spec.binds.items():
        argv += ["-v", f"{host_path}:{target}:ro"]
    for path, volume in spec.volumes.items():
        argv += ["-v", f"{volume}:{path}"]
    prefix = f"{spec.publish_ip}:" if spec.publish_ip else ""
    for port in [spec.ops_port, *spec.extra_ports] if spec.network != "host" else []:  # host network: no -p
        if port:
            argv += ["-p", f"{prefix}{port}:{port}"]
    for key, value in env.items():
        argv += ["-e", f"{key}={value}"]
    if spec.network:
        argv += ["--network", spec.network]
    return argv + [spec.image, *node_args(spec)]


# ---------------------------------------------------------------- talking to a stand-in

class StandinError(RuntimeError):
    """A stand-in control request failed."""


def control(base_url: str, action: str, timeout: float = 10.0, **params: object) -> dict:
    """POST ``/lab/<action>?params`` to a stand-in; return its JSON answer.

    ``control(url, "advance", blocks=3)``, ``control(url, "healthz", fail="docker:down")``,
    ``control(url, "stall")``. A list value repeats the parameter.
    """
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
    url = f"{base_url.rstrip('/')}/lab/{action}" + (f"?{query}" if query else "")
    req = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise StandinError(f"{url}: HTTP {exc.code} {exc.read()[:200]!r}") from None
    except OSError as exc:
        raise StandinError(f"{url}: {exc}") from None


def get(base_url: str, path: str, timeout: float = 5.0) -> tuple[int, str]:
    """GET a path of a stand-in (or any operations endpoint): (status, body); 5xx answers are returned too."""
    try:
        with urllib.request.urlopen(f"{base_url.rstrip('/')}{path}", timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class LocalStandin:
    """A stand-in running as a local process (fast; for tests that do not need a container)."""

    name: str
    kind: str
    port: int
    data_root: Path
    pidfile: Path
    log: Path
    listen: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.listen}:{self.port}"

    @property
    def target(self) -> str:
        return f"{self.listen}:{self.port}"

    def ledger_dir(self, channel: str = "mychannel") -> Path:
        return self.data_root / ledger_dir(self.kind, channel).removeprefix(DATA_ROOT + "/")

    def control(self, action: str, **params: object) -> dict:
        return control(self.url, action, **params)

    def stop(self) -> bool:
        return procs.stop(self.pidfile)


def start_local(workdir: Path, name: str, kind: str, port: int, *, listen: str = "127.0.0.1",
                args: list[str] | None = None, python: str | None = None, timeout: float = 15.0) -> LocalStandin:
    """Start node.py as a local process with its data under ``workdir/name``; wait until it answers."""
    base = Path(workdir) / name
    base.mkdir(parents=True, exist_ok=True)
    node = LocalStandin(name, kind, port, base / "production", base / "node.pid", base / "node.log", listen)
    argv = [python or sys.executable, str(NODE_PY), "--kind", kind, "--name", name, "--port", str(port),
            "--listen", listen, "--data-root", str(node.data_root), *(args or [])]
    procs.spawn(argv, pidfile=node.pidfile, log=node.log)

    def answering() -> bool:
        pid = procs.read_pid(node.pidfile)
        if pid is None or not procs.pid_alive(pid):
            raise StandinError(f"stand-in {name} exited: {node.log.read_text()[-2000:]}")
        return get(node.url, "/healthz", timeout=1.0)[0] in (200, 503)

    try:
        wait_for(answering, timeout=timeout, what=f"stand-in {name} on {node.target}")
    except Exception:
        node.stop()
        raise
    return node

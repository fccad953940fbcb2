"""A container's settings as a typed model: ``docker inspect`` in, ``docker create`` argv out, and comparisons.

``ContainerConfig.from_inspect`` reads what the engine reports (the *effective* settings: image defaults
merged in). To recreate a container on another image without pinning the old image's defaults, the
settings are split into what the user chose (:meth:`ContainerConfig.overrides`: everything that differs
from the old image's defaults) and what comes from the image; :meth:`ContainerConfig.effective` puts a
spec back together on top of the *new* image's defaults. :func:`compare` then says, key by key like
community.docker's ``comparisons``, what differs between the running container and the desired one:
``image`` (by image ID), ``entrypoint``, ``command``, ``env`` (as a mapping), ``mounts``, ``ports``,
``log_config``, ``restart_policy``, ``labels``, ``hostname``, ``network``, ``user``, ``working_dir``,
``healthcheck`` and a few host settings. Nothing differs -> nothing is recreated.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from opskit import secrets, values
from opskit.errors import OpskitError

_VOLUME_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}\Z")
_ANON_RE = re.compile(r"^[0-9a-f]{64}\Z")
DEFAULT_SHM = 64 * 1024 * 1024


class ConfigError(OpskitError):
    """A requested change or an inspect document cannot be turned into container settings."""


@dataclass(frozen=True, order=True)
class Mount:
    """One mount: a named volume (``source`` = volume name), a bind (``source`` = host path) or tmpfs."""

    destination: str
    type: str = "volume"
    source: str = ""
    read_only: bool = False
    propagation: str = ""

    def argv(self) -> list[str]:
        for part in (self.source, self.destination, self.propagation):
            if any(c in part for c in ",=\"\n\r\0"):
                # --mount is a comma-separated key=value list: such a value would add mount options
                raise ConfigError(f"mount {self.source!r} -> {self.destination!r}: a ',', '=', quote or newline "
                                  "would be read as --mount syntax; refusing")
        if self.type == "volume":
            return ["--mount", f"type=volume,source={self.source},destination={self.destination}"
                    + (",readonly" if self.read_only else "")]
        if self.type == "bind":
            opts = ",readonly" if self.read_only else ""
            if self.propagation and self.propagation != "rprivate":
                opts += f",bind-propagation={self.propagation}"
            return ["--mount", f"type=bind,source={self.source},destination={self.destination}{opts}"]
        raise ConfigError(f"cannot recreate a {self.type} mount at {self.destination}")

    def describe(self) -> str:
        return f"{self.source or '(anonymous)'}:{self.destination}{':ro' if self.read_only else ''} ({self.type})"


@dataclass
class ContainerConfig:
    """The settings opskit carries over when it recreates a container."""

    name: str
    image: str                                  # the reference the container was created from
    image_id: str = ""                          # the image ID the container runs
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    hostname: str = ""
    domainname: str = ""
    user: str = ""
    working_dir: str = ""
    tty: bool = False
    open_stdin: bool = False
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: dict[str, Any] | None = None
    mounts: list[Mount] = field(default_factory=list)
    tmpfs: dict[str, str] = field(default_factory=dict)
    network_mode: str = "default"
    networks: dict[str, list[str]] = field(default_factory=dict)   # user networks -> aliases
    ports: dict[str, list[str]] = field(default_factory=dict)      # "7050/tcp" -> ["0.0.0.0:7050", ":7051"]
    restart_policy: str = "no"
    restart_retries: int = 0
    log_driver: str = "json-file"
    log_opts: dict[str, str] = field(default_factory=dict)
    extra_hosts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    read_only: bool = False
    init: bool = False
    pid_mode: str = ""
    ipc_mode: str = ""
    shm_size: int = DEFAULT_SHM
    memory: int = 0
    nano_cpus: int = 0
    cpu_shares: int = 0
    sysctls: dict[str, str] = field(default_factory=dict)
    ulimits: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    # state, not settings
    running: bool = False
    status: str = ""
    started_at: str = ""
    restart_count: int = 0
    log_path: str = ""
    id: str = ""

    # -- reading --------------------------------------------------------------------------------------
    @classmethod
    def from_inspect(cls, doc: dict[str, Any]) -> "ContainerConfig":
        cfg = doc.get("Config") or {}
        hc = doc.get("HostConfig") or {}
        state = doc.get("State") or {}
        mounts = []
        for m in doc.get("Mounts") or []:
            typ = m.get("Type", "volume")
            if typ == "volume":
                src = m.get("Name") or ""
            else:
                src = m.get("Source") or ""
            mounts.append(Mount(m.get("Destination", ""), typ, src, not m.get("RW", True),
                                m.get("Propagation", "") if typ == "bind" else ""))
        ports: dict[str, list[str]] = {}
        for cport, bindings in (hc.get("PortBindings") or {}).items():
            ports[cport] = sorted(f"{b.get('HostIp', '')}:{b.get('HostPort', '')}" for b in (bindings or []))
        networks: dict[str, list[str]] = {}
        mode = hc.get("NetworkMode") or "default"
        for net, settings in ((doc.get("NetworkSettings") or {}).get("Networks") or {}).items():
            if net in ("host", "none", "bridge") or mode.startswith("container:"):
                continue
            cid = (doc.get("Id") or "")[:12]
            aliases = [a for a in (settings or {}).get("Aliases") or [] if a != cid and a != cfg.get("Hostname")]
            networks[net] = sorted(set(aliases))
        rp = hc.get("RestartPolicy") or {}
        lc = hc.get("LogConfig") or {}
        ulimits = [f"{u['Name']}={u['Soft']}:{u['Hard']}" for u in hc.get("Ulimits") or []]
        devices = [f"{d['PathOnHost']}:{d['PathInContainer']}:{d.get('CgroupPermissions', 'rwm')}"
                   for d in hc.get("Devices") or []]
        return cls(
            name=(doc.get("Name") or "").lstrip("/"),
            image=cfg.get("Image") or "",
            image_id=doc.get("Image") or "",
            entrypoint=list(cfg["Entrypoint"]) if cfg.get("Entrypoint") else None,
            command=list(cfg["Cmd"]) if cfg.get("Cmd") else None,
            env=env_dict(cfg.get("Env") or []),
            labels=dict(cfg.get("Labels") or {}),
            hostname=cfg.get("Hostname") or "",
            domainname=cfg.get("Domainname") or "",
            user=cfg.get("User") or "",
            working_dir=cfg.get("WorkingDir") or "",
            tty=bool(cfg.get("Tty")),
            open_stdin=bool(cfg.get("OpenStdin")),
            stop_signal=cfg.get("StopSignal") or "",
            stop_timeout=cfg.get("StopTimeout"),
            healthcheck=cfg.get("Healthcheck") or None,
            mounts=sorted(mounts),
            tmpfs=dict(hc.get("Tmpfs") or {}),
            network_mode=mode,
            networks=networks,
            ports=ports,
            restart_policy=rp.get("Name") or "no",
            restart_retries=int(rp.get("MaximumRetryCount") or 0),
            log_driver=lc.get("Type") or "",
            log_opts=dict(lc.get("Config") or {}),
            extra_hosts=list(hc.get("ExtraHosts") or []),
            dns=list(hc.get("Dns") or []),
            dns_search=list(hc.get("DnsSearch") or []),
            dns_options=list(hc.get("DnsOptions") or []),
            cap_add=sorted(hc.get("CapAdd") or []),
            cap_drop=sorted(hc.get("CapDrop") or []),
            privileged=bool(hc.get("Privileged")),
            security_opt=list(hc.get("SecurityOpt") or []),
            read_only=bool(hc.get("ReadonlyRootfs")),
            init=bool(hc.get("Init")),
            pid_mode=hc.get("PidMode") or "",
            ipc_mode=hc.get("IpcMode") or "",
            shm_size=int(hc.get("ShmSize") or DEFAULT_SHM),
            memory=int(hc.get("Memory") or 0),
            nano_cpus=int(hc.get("NanoCpus") or 0),
            cpu_shares=int(hc.get("CpuShares") or 0),
            sysctls=dict(hc.get("Sysctls") or {}),
            ulimits=ulimits,
            group_add=list(hc.get("GroupAdd") or []),
            devices=devices,
            running=bool(state.get("Running")),
            status=state.get("Status") or "",
            started_at=state.get("StartedAt") or "",
            restart_count=int(doc.get("RestartCount") or 0),
            log_path=doc.get("LogPath") or "",
            id=doc.get("Id") or "",
        )

    def mount_at(self, destination: str) -> Mount | None:
        for m in self.mounts:
            if m.destination.rstrip("/") == destination.rstrip("/"):
                return m
        return None

    # -- image defaults ---------------------------------------------------------------------------------
    def overrides(self, image: "ImageDefaults") -> "ContainerConfig":
        """A copy without what the image supplies by default (env, labels, entrypoint, command, ...)."""
        spec = copy.deepcopy(self)
        spec.env = {k: v for k, v in self.env.items() if image.env.get(k) != v}
        spec.labels = {k: v for k, v in self.labels.items() if image.labels.get(k) != v}
        if spec.entrypoint == image.entrypoint:
            spec.entrypoint = None
            if spec.command == image.command:
                spec.command = None
        if spec.user == image.user:
            spec.user = ""
        if spec.working_dir == image.working_dir:
            spec.working_dir = ""
        if spec.healthcheck == image.healthcheck:
            spec.healthcheck = None
        if spec.stop_signal == image.stop_signal:
            spec.stop_signal = ""
        return spec

    def effective(self, image: "ImageDefaults") -> "ContainerConfig":
        """What a container created from this spec on ``image`` reports (docker's merge rules)."""
        eff = copy.deepcopy(self)
        eff.image_id = image.id
        eff.env = {**image.env, **self.env}
        eff.labels = {**image.labels, **self.labels}
        if self.entrypoint is None:
            eff.entrypoint = image.entrypoint
            eff.command = self.command if self.command is not None else image.command
        eff.user = self.user or image.user
        eff.working_dir = self.working_dir or image.working_dir or "/"
        eff.healthcheck = self.healthcheck if self.healthcheck is not None else image.healthcheck
        eff.stop_signal = self.stop_signal or image.stop_signal
        return eff

    # -- writing ------------------------------------------------------------------------------------------
    def create_argv(self, name: str | None = None) -> list[str]:
        """``docker`` arguments (``["create", ...]``) that create this spec; prefix them with the docker argv.

        Only user-level settings are passed (use :meth:`overrides` first when the image changes).
        """
        a: list[str] = ["create", "--name", name or self.name]
        if self.hostname:
            a += ["--hostname", self.hostname]
        if self.domainname:
            a += ["--domainname", self.domainname]
        if self.user:
            a += ["--user", self.user]
        if self.working_dir:
            a += ["--workdir", self.working_dir]
        if self.tty:
            a.append("--tty")
        if self.open_stdin:
            a.append("--interactive")
        if self.stop_signal:
            a += ["--stop-signal", self.stop_signal]
        if self.stop_timeout is not None:
            a += ["--stop-timeout", str(self.stop_timeout)]
        for k, v in sorted(self.labels.items()):
            a += ["--label", f"{k}={v}"]
        for k, v in self.env.items():
            a += ["--env", f"{k}={v}"]
        for m in self.mounts:
            a += m.argv()
        for dest, opts in sorted(self.tmpfs.items()):
            a += ["--tmpfs", f"{dest}:{opts}" if opts else dest]
        if self.network_mode not in ("default", ""):
            a += ["--network", self.network_mode]
            for alias in self.networks.get(self.network_mode, []):
                a += ["--network-alias", alias]
        for cport, bindings in sorted(self.ports.items()):
            for b in bindings or [":"]:
                ip, _, hport = b.rpartition(":")
                spec = cport.removesuffix("/tcp")
                if hport:
                    spec = f"{hport}:{spec}"
                if ip:
                    spec = f"{ip}:{spec}" if hport else f"{ip}::{spec}"
                a += ["--publish", spec]
        policy = self.restart_policy or "no"
        if policy == "on-failure" and self.restart_retries:
            policy = f"on-failure:{self.restart_retries}"
        a += ["--restart", policy]
        if self.log_driver:
            a += ["--log-driver", self.log_driver]
        for k, v in sorted(self.log_opts.items()):
            a += ["--log-opt", f"{k}={v}"]
        for h in self.extra_hosts:
            a += ["--add-host", h]
        for d in self.dns:
            a += ["--dns", d]
        for d in self.dns_search:
            a += ["--dns-search", d]
        for d in self.dns_options:
            a += ["--dns-option", d]
        for c in self.cap_add:
            a += ["--cap-add", c]
        for c in self.cap_drop:
            a += ["--cap-drop", c]
        if self.privileged:
            a.append("--privileged")
        for s in self.security_opt:
            a += ["--security-opt", s]
        if self.read_only:
            a.append("--read-only")
        if self.init:
            a.append("--init")
        if self.pid_mode:
            a += ["--pid", self.pid_mode]
        if self.ipc_mode and self.ipc_mode not in ("private", "shareable"):
            a += ["--ipc", self.ipc_mode]
        if self.shm_size and self.shm_size != DEFAULT_SHM:
            a += ["--shm-size", f"{self.shm_size}b"]
        if self.memory:
            a += ["--memory", f"{self.memory}b"]
        if self.nano_cpus:
            a += ["--cpus", f"{self.nano_cpus / 1e9:g}"]
        if self.cpu_shares:
            a += ["--cpu-shares", str(self.cpu_shares)]
        for k, v in sorted(self.sysctls.items()):
            a += ["--sysctl", f"{k}={v}"]
        for u in self.ulimits:
            a += ["--ulimit", u]
        for g in self.group_add:
            a += ["--group-add", g]
        for d in self.devices:
            a += ["--device", d]
        hc = self.healthcheck
        if hc:
            test = hc.get("Test") or []
            if test == ["NONE"]:
                a.append("--no-healthcheck")
            elif test:
                cmd = test[1] if test[0] == "CMD-SHELL" and len(test) == 2 else json.dumps(test[1:])
                a += ["--health-cmd", cmd]
                for key, flag in (("Interval", "--health-interval"), ("Timeout", "--health-timeout"),
                                  ("StartPeriod", "--health-start-period")):
                    if hc.get(key):
                        a += [flag, f"{int(hc[key]) / 1e9:g}s"]
                if hc.get("Retries"):
                    a += ["--health-retries", str(hc["Retries"])]
        cmd_args = list(self.command or [])
        if self.entrypoint is not None:
            a += ["--entrypoint", self.entrypoint[0] if self.entrypoint else ""]
            cmd_args = list(self.entrypoint[1:]) + cmd_args
        return [*a, self.image, *cmd_args]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mounts"] = [m.describe() for m in self.mounts]
        return d


@dataclass
class ImageDefaults:
    """What an image contributes to every container made from it."""

    id: str
    ref: str = ""
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    user: str = ""
    working_dir: str = ""
    healthcheck: dict[str, Any] | None = None
    stop_signal: str = ""
    volumes: list[str] = field(default_factory=list)
    size: int = 0

    @classmethod
    def from_inspect(cls, doc: dict[str, Any], ref: str = "") -> "ImageDefaults":
        cfg = doc.get("Config") or {}
        return cls(
            id=doc.get("Id") or "", ref=ref,
            env=env_dict(cfg.get("Env") or []), labels=dict(cfg.get("Labels") or {}),
            entrypoint=list(cfg["Entrypoint"]) if cfg.get("Entrypoint") else None,
            command=list(cfg["Cmd"]) if cfg.get("Cmd") else None,
            user=cfg.get("User") or "", working_dir=cfg.get("WorkingDir") or "",
            healthcheck=cfg.get("Healthcheck") or None, stop_signal=cfg.get("StopSignal") or "",
            volumes=sorted((cfg.get("Volumes") or {}).keys()), size=int(doc.get("Size") or 0),
        )


def env_dict(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


# -- changes -----------------------------------------------------------------------------------------------
@dataclass
class Changes:
    """What a front door asks for, applied on top of a container's own settings."""

    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    unset_env: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    log_driver: str | None = None
    log_opts: dict[str, str] = field(default_factory=dict)
    restart_policy: str | None = None
    hostname: str | None = None
    volumes: dict[str, str] = field(default_factory=dict)   # container path -> named volume
    command: list[str] | None = None

    def is_empty(self) -> bool:
        return not any([self.image, self.env, self.unset_env, self.labels, self.log_driver, self.log_opts,
                        self.restart_policy, self.hostname, self.volumes, self.command is not None])

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, [])}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Changes":
        return cls(**d)

    def apply(self, spec: ContainerConfig) -> ContainerConfig:
        out = copy.deepcopy(spec)
        if self.image:
            out.image = self.image
        for k in self.unset_env:
            out.env.pop(k, None)
        out.env.update(self.env)
        out.labels.update(self.labels)
        if self.log_driver:
            if self.log_driver != out.log_driver:
                out.log_opts = {}
            out.log_driver = self.log_driver
        out.log_opts.update(self.log_opts)
        if self.restart_policy:
            name, _, retries = self.restart_policy.partition(":")
            out.restart_policy, out.restart_retries = name, int(retries or 0)
        if self.hostname:
            out.hostname = self.hostname
        if self.command is not None:
            out.command = list(self.command)
        for path, vol in self.volumes.items():
            if not _VOLUME_NAME_RE.match(vol):
                raise ConfigError(f"{vol!r} is not a valid volume name")
            out.mounts = sorted([m for m in out.mounts if m.destination.rstrip("/") != path.rstrip("/")]
                                + [Mount(path, "volume", vol)])
        return out


SET_KEYS = ("image", "env.NAME", "unset-env", "label.NAME", "log-driver", "log-opt.NAME", "restart", "hostname",
            "volume./PATH", "command")


def parse_set(items: list[str], changes: Changes | None = None) -> Changes:
    """``--set KEY=VALUE`` items into :class:`Changes` (keys: see ``SET_KEYS``)."""
    ch = changes or Changes()
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE (keys: {', '.join(SET_KEYS)})")
        try:
            values.no_control(key, "key")
            values.no_control(value, "value")
            if key.startswith(("env.", "label.", "log-opt.")) and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*",
                                                                                   key.split(".", 1)[1] or "x"):
                raise ValueError(f"{key.split('.', 1)[1]!r} is not a valid name")
            if key == "image":
                values.image_ref(value)
            elif key.startswith("volume./"):
                values.mount_path(key[7:])
                values.volume_name(value)
            elif key == "hostname" and value:
                values.arg(value)
        except ValueError as exc:
            raise values.BadValue(f"--set {_short(item)}: {exc}") from None
        if key == "image":
            ch.image = value
        elif key.startswith("env."):
            ch.env[key[4:]] = value
        elif key == "unset-env":
            ch.unset_env.append(value)
        elif key.startswith("label."):
            ch.labels[key[6:]] = value
        elif key == "log-driver":
            ch.log_driver = value
        elif key.startswith("log-opt."):
            ch.log_opts[key[8:]] = value
        elif key == "restart":
            if value.partition(":")[0] not in ("no", "always", "unless-stopped", "on-failure"):
                raise ConfigError(f"--set restart={value}: use no, always, unless-stopped or on-failure[:N]")
            ch.restart_policy = value
        elif key == "hostname":
            ch.hostname = value
        elif key.startswith("volume./"):
            ch.volumes[key[7:]] = value
        elif key == "command":
            try:
                cmd = json.loads(value)
            except json.JSONDecodeError:
                raise ConfigError("--set command=... takes a JSON list, e.g. command='[\"peer\",\"node\",\"start\"]'") from None
            if not isinstance(cmd, list) or not all(isinstance(c, str) for c in cmd):
                raise ConfigError("--set command=... takes a JSON list of strings")
            ch.command = cmd
        else:
            raise ConfigError(f"--set {key}: unknown key (keys: {', '.join(SET_KEYS)})")
        if key.startswith(("env.", "label.", "log-opt.")) and not key.split(".", 1)[1]:
            raise ConfigError(f"--set {item!r}: the name after {key.split('.')[0]}. is empty")
    return ch


# -- comparisons -----------------------------------------------------------------------------------------
@dataclass
class Difference:
    key: str
    current: Any
    desired: Any

    def describe(self) -> str:
        if isinstance(self.current, list) and isinstance(self.desired, list):
            added = [x for x in self.desired if x not in self.current]
            removed = [x for x in self.current if x not in self.desired]
            parts = [f"+{_short(x)}" for x in added] + [f"-{_short(x)}" for x in removed]
            return f"{self.key}: {', '.join(parts) or 'order'}"
        if isinstance(self.current, dict) and isinstance(self.desired, dict):
            keys = sorted(set(self.current) | set(self.desired))
            parts = [f"{k}={_short(self.current.get(k))}->{_short(self.desired.get(k))}" for k in keys
                     if self.current.get(k) != self.desired.get(k)]
            return f"{self.key}: {'; '.join(parts)}"
        return f"{self.key}: {_short(self.current)} -> {_short(self.desired)}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "current": self.current, "desired": self.desired}


def _short(v: Any) -> str:
    text = json.dumps(v, sort_keys=True, default=str) if not isinstance(v, str) else v
    return text if len(text) <= 160 else text[:157] + "..."


#: key -> how a container's value is read for the comparison (community.docker style: explicit per key)
COMPARED = ("image", "entrypoint", "command", "env", "mounts", "ports", "log_config", "restart_policy", "labels",
            "hostname", "network", "user", "working_dir", "healthcheck", "host_settings")


def _values(c: ContainerConfig) -> dict[str, Any]:
    return {
        "image": [c.image, c.image_id],
        "entrypoint": c.entrypoint or [],
        "command": c.command or [],
        "env": dict(sorted(c.env.items())),
        "mounts": [m.describe() for m in sorted(c.mounts)],
        "ports": dict(sorted(c.ports.items())),
        "log_config": {"driver": c.log_driver or "json-file", "options": dict(sorted(c.log_opts.items()))},
        "restart_policy": f"{c.restart_policy}:{c.restart_retries}" if c.restart_policy == "on-failure" else c.restart_policy,
        "labels": dict(sorted(c.labels.items())),
        "hostname": c.hostname,
        "network": {"mode": c.network_mode, "networks": c.networks},
        "user": c.user,
        "working_dir": c.working_dir or "/",
        "healthcheck": c.healthcheck or {},
        "host_settings": {k: getattr(c, k) for k in (
            "extra_hosts", "dns", "cap_add", "cap_drop", "privileged", "security_opt", "read_only", "pid_mode",
            "shm_size", "memory", "nano_cpus", "sysctls", "ulimits", "tmpfs", "devices")},
    }


def compare(current: ContainerConfig, desired: ContainerConfig, *, ignore: tuple[str, ...] = ()) -> list[Difference]:
    """Every compared key whose value differs (an empty list: the container is already as desired)."""
    cur, want = _values(current), _values(desired)
    out = []
    for key in COMPARED:
        if key in ignore:
            continue
        if cur[key] != want[key]:
            if key == "image" and current.image != desired.image:
                out.append(Difference(key, f"{current.image} ({current.image_id[:19]})",
                                      f"{desired.image} ({desired.image_id[:19]})"))
            elif key == "env":
                # secret-looking values never leave this function: plans, --json and journals show <secret>
                out.append(Difference(key, *secrets.mask_env_pair(cur[key], want[key])))
            else:
                out.append(Difference(key, cur[key], want[key]))
    return out

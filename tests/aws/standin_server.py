"""Test equipment: a loopback HTTP front for moto that plays what moto does not simulate.

Every request goes through this server (boto3 ``endpoint_url``). It looks at the SigV4
credential scope to tell services apart, then:

- **ECS** ``UpdateService`` and ``DescribeServices``: forwarded to moto (so the service,
  its task definitions and their revisions are moto's real state), then the answer's
  ``deployments``, counts, ``taskDefinition`` and ``events`` are replaced by a deployment
  state machine that behaves the way the ECS documentation describes rolling updates:
  a new PRIMARY deployment starts IN_PROGRESS; it reaches COMPLETED (older deployments
  drain away), or FAILED (circuit breaker without rollback), or FAILED followed by a
  rollback (the failed deployment turns ACTIVE and a new PRIMARY deployment of the last
  COMPLETED task definition starts; moto's service is pointed back at it), or it never
  finishes. Scenarios are chosen per service name with :meth:`StandIn.ecs_scenario`.
- **Kafka (MSK)**: served entirely here (moto answers 404/500 for configurations, bootstrap
  brokers and configuration updates, and keeps clusters CREATING forever). Requests are
  routed and (de)serialised with botocore's own REST-JSON model of the ``kafka`` API, so
  the wire format is the one AWS documents. Cluster creation and configuration updates
  advance one step per describe call, per :meth:`StandIn.msk_scenario`.
- **Faults**: :meth:`StandIn.fail` makes the next call(s) of one operation answer an AWS
  error (JSON ``__type`` or ``x-amzn-ErrorType``) without reaching moto.
- Everything else (SSM, ECR, EC2, other ECS calls) is forwarded to moto unchanged.

botocore's client-side validation stays on: every request is checked against the real
AWS model before it reaches this server.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import random
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ACCOUNT = "123456789012"
_SCOPE_RE = re.compile(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request")
_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "content-length", "host"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# =========================================================================== ECS deployments
@dataclass
class Deployment:
    id: str
    task_definition: str
    desired: int
    status: str = "PRIMARY"
    rollout: str = "IN_PROGRESS"
    reason: str = ""
    running: int = 0
    pending: int = 0
    failed: int = 0
    created: dt.datetime = field(default_factory=_now)
    updated: dt.datetime = field(default_factory=_now)

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "taskDefinition": self.task_definition,
            "desiredCount": self.desired, "pendingCount": self.pending, "runningCount": self.running,
            "failedTasks": self.failed, "createdAt": self.created.timestamp(), "updatedAt": self.updated.timestamp(),
            "launchType": "FARGATE", "rolloutState": self.rollout,
            "rolloutStateReason": self.reason or f"ECS deployment {self.id} {self.rollout.lower().replace('_', ' ')}.",
        }


@dataclass
class EcsService:
    arn: str
    name: str
    cluster_arn: str
    desired: int
    deployments: list[Deployment]
    last_completed: str
    scenario: str = "complete"
    polls_needed: int = 2
    ticks: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    rollback_of: Deployment | None = None

    def event(self, message: str) -> None:
        self.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": _now().timestamp(), "message": message})

    @property
    def primary(self) -> Deployment:
        return next(d for d in self.deployments if d.status == "PRIMARY")


def _deployment_id() -> str:
    return f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"


# =========================================================================== Kafka (REST-JSON via botocore's model)
class KafkaModel:
    """Routes and (de)serialises kafka requests with botocore's service model."""

    def __init__(self) -> None:
        import botocore.session

        self.model = botocore.session.get_session().get_service_model("kafka")
        self.routes: list[tuple[str, re.Pattern[str], str]] = []
        for name in self.model.operation_names:
            op = self.model.operation_model(name)
            uri = op.http["requestUri"].split("?")[0]
            pattern = "^" + re.sub(r"\{([^}+]+)\+?\}", r"(?P<\1>[^/]+)", uri) + "$"
            self.routes.append((op.http["method"], re.compile(pattern), name))
        # literal paths before templated ones
        self.routes.sort(key=lambda r: r[1].pattern.count("(?P<"))

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for m, rx, name in self.routes:
            if m == method:
                hit = rx.match(path)
                if hit:
                    return name, {k: urllib.parse.unquote(v) for k, v in hit.groupdict().items()}
        return None

    def parse(self, op_name: str, uri: dict[str, str], query: dict[str, list[str]], body: bytes) -> dict[str, Any]:
        op = self.model.operation_model(op_name)
        shape = op.input_shape
        out: dict[str, Any] = {}
        if shape is None:
            return out
        wire = json.loads(body) if body else {}
        for member, mshape in shape.members.items():
            loc = mshape.serialization.get("location")
            wname = mshape.serialization.get("name", member)
            if loc == "uri" and wname in uri:
                out[member] = uri[wname]
            elif loc == "querystring" and wname in query:
                out[member] = query[wname][0]
            elif loc is None and wname in wire:
                out[member] = self._from_wire(mshape, wire[wname])
        return out

    def _from_wire(self, shape: Any, value: Any) -> Any:
        t = shape.type_name
        if t == "structure":
            return {m: self._from_wire(s, value[s.serialization.get("name", m)])
                    for m, s in shape.members.items() if s.serialization.get("name", m) in value}
        if t == "list":
            return [self._from_wire(shape.member, v) for v in value]
        if t == "map":
            return {k: self._from_wire(shape.value, v) for k, v in value.items()}
        if t == "blob":
            return base64.b64decode(value)
        return value

    def serialize(self, op_name: str, data: dict[str, Any]) -> bytes:
        shape = self.model.operation_model(op_name).output_shape
        return json.dumps(self._to_wire(shape, data) if shape is not None else {}).encode()

    def _to_wire(self, shape: Any, value: Any) -> Any:
        t = shape.type_name
        if t == "structure":
            out = {}
            for m, s in shape.members.items():
                if m in value and value[m] is not None:
                    out[s.serialization.get("name", m)] = self._to_wire(s, value[m])
            unknown = set(value) - set(shape.members)
            if unknown:
                raise AssertionError(f"stand-in bug: {sorted(unknown)} not in {shape.name}")
            return out
        if t == "list":
            return [self._to_wire(shape.member, v) for v in value]
        if t == "map":
            return {k: self._to_wire(shape.value, v) for k, v in value.items()}
        if t == "blob":
            return base64.b64encode(value).decode()
        if t == "timestamp":
            return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return value


@dataclass
class MskCluster:
    arn: str
    name: str
    provisioned: dict[str, Any]
    created: dt.datetime
    state: str = "CREATING"
    version: str = "K1"
    create_scenario: str = "active"
    update_scenario: str = "complete"
    polls_needed: int = 2
    ticks: int = 0
    state_info: dict[str, Any] | None = None
    operation: dict[str, Any] | None = None
    op_ticks: int = 0
    pending_config: dict[str, Any] | None = None


# =========================================================================== the server
class StandIn:
    """The stand-in in a thread of the test process; ``url`` is the endpoint for boto3."""

    def __init__(self, moto_url: str, region: str = "us-east-1") -> None:
        import boto3
        from botocore.config import Config

        self.moto_url = moto_url.rstrip("/")
        parsed = urllib.parse.urlparse(self.moto_url)
        self.moto_host, self.moto_port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.region = region
        self.lock = threading.RLock()
        self.calls: list[tuple[str, str]] = []
        self.ecs: dict[str, EcsService] = {}
        self.ecs_scenarios: dict[str, tuple[str, int]] = {}
        self.faults: list[dict[str, Any]] = []
        self.kafka_model = KafkaModel()
        self.configs: dict[str, dict[str, Any]] = {}
        self.clusters: dict[str, MskCluster] = {}
        self.msk_scenarios: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, str] = {}
        self._moto_ecs = boto3.client("ecs", endpoint_url=self.moto_url, region_name=region,
                                      aws_access_key_id="testing", aws_secret_access_key="testing",
                                      config=Config(retries={"total_max_attempts": 1}))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ control
    def start(self) -> "StandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _any(self) -> None:
                standin.handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-standin", daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ecs_scenario(self, service: str, kind: str, polls: int = 2) -> None:
        """``complete`` | ``fail`` (breaker, no rollback) | ``rollback`` | ``never`` for the next deployments."""
        assert kind in ("complete", "fail", "rollback", "never"), kind
        with self.lock:
            self.ecs_scenarios[service] = (kind, polls)
            for svc in self.ecs.values():
                if svc.name == service:
                    svc.scenario, svc.polls_needed = kind, polls

    def msk_scenario(self, cluster: str, *, create: str = "active", update: str = "complete", polls: int = 2) -> None:
        """create: ``active`` | ``failed`` | ``never``; update: ``complete`` | ``failed`` | ``never``."""
        with self.lock:
            self.msk_scenarios[cluster] = {"create": create, "update": update, "polls": polls}
            for c in self.clusters.values():
                if c.name == cluster:
                    c.create_scenario, c.update_scenario, c.polls_needed = create, update, polls

    def fail(self, service: str, operation: str, code: str, message: str = "injected by the test stand-in",
             status: int = 400, times: int = 1) -> None:
        with self.lock:
            self.faults.append({"service": service, "operation": operation, "code": code, "message": message,
                                "status": status, "times": times})

    def count(self, service: str, operation: str) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c == (service, operation))

    # ------------------------------------------------------------------ dispatch
    def handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        scope = _SCOPE_RE.search(req.headers.get("Authorization", ""))
        service = scope.group(2) if scope else ""
        target = req.headers.get("X-Amz-Target", "")
        operation = target.rsplit(".", 1)[-1] if target else ""
        parsed = urllib.parse.urlsplit(req.path)
        kafka_route = None
        if service == "kafka":
            kafka_route = self.kafka_model.match(req.command, parsed.path)
            operation = kafka_route[0] if kafka_route else f"{req.command} {parsed.path}"
        with self.lock:
            self.calls.append((service, operation))
            fault = next((f for f in self.faults if f["service"] == service and f["operation"] == operation), None)
            if fault:
                fault["times"] -= 1
                if fault["times"] <= 0:
                    self.faults.remove(fault)
        try:
            if fault:
                raise ApiError(fault["code"], fault["message"], fault["status"])
            if service == "kafka":
                if kafka_route is None:
                    raise ApiError("NotFoundException", f"no such kafka resource: {req.command} {parsed.path}", 404)
                params = self.kafka_model.parse(kafka_route[0], kafka_route[1],
                                                urllib.parse.parse_qs(parsed.query), body)
                with self.lock:
                    handler = getattr(self, f"_kafka_{kafka_route[0]}", None)
                    if handler is None:
                        raise ApiError("BadRequestException", f"the stand-in does not play {kafka_route[0]}")
                    data = handler(params)
                self._send(req, 200, self.kafka_model.serialize(kafka_route[0], data),
                           {"Content-Type": "application/json"})
                return
            if service == "ecs" and operation in ("UpdateService", "DescribeServices"):
                if operation == "UpdateService":
                    with self.lock:
                        self._ecs_before_update(json.loads(body or b"{}"))
                status, headers, payload = self._forward(req, body)
                if status == 200:
                    with self.lock:
                        payload = getattr(self, f"_ecs_{operation}")(json.loads(body or b"{}"), json.loads(payload))
                    payload = json.dumps(payload).encode()
                self._send(req, status, payload, headers)
                return
            status, headers, payload = self._forward(req, body)
            self._send(req, status, payload, headers)
        except Exception as exc:  # a stand-in bug must show as a clear error, not a dropped connection
            if not isinstance(exc, ApiError):
                import traceback

                traceback.print_exc()
                exc = ApiError("InternalFailure", f"stand-in error: {exc!r}", 500)
            if service == "kafka":
                self._send(req, exc.status, json.dumps({"message": exc.message}).encode(),
                           {"Content-Type": "application/json", "x-amzn-ErrorType": exc.code})
            else:
                self._send(req, exc.status, json.dumps({"__type": exc.code, "message": exc.message}).encode(),
                           {"Content-Type": "application/x-amz-json-1.1"})

    def _forward(self, req: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.moto_host, self.moto_port, timeout=60)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() not in _HOP}
            headers["Host"] = f"{self.moto_host}:{self.moto_port}"
            conn.request(req.command, req.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}, data
        finally:
            conn.close()

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, payload: bytes, headers: dict[str, str]) -> None:
        req.send_response(status)
        for k, v in headers.items():
            req.send_header(k, v)
        req.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        req.wfile.write(payload)

    # ------------------------------------------------------------------ ECS
    def _full_td_arn(self, ref: str) -> str:
        if ref.startswith("arn:"):
            return ref
        return self._moto_ecs.describe_task_definition(taskDefinition=ref)["taskDefinition"]["taskDefinitionArn"]

    def _ecs_state(self, svc: dict[str, Any]) -> EcsService:
        state = self.ecs.get(svc["serviceArn"])
        if state is None:
            td = self._full_td_arn(svc["taskDefinition"])
            desired = int(svc.get("desiredCount", 1))
            first = Deployment(id=_deployment_id(), task_definition=td, desired=desired, rollout="COMPLETED",
                               running=desired)
            kind, polls = self.ecs_scenarios.get(svc["serviceName"], ("complete", 2))
            state = EcsService(arn=svc["serviceArn"], name=svc["serviceName"], cluster_arn=svc["clusterArn"],
                               desired=desired, deployments=[first], last_completed=td, scenario=kind,
                               polls_needed=polls)
            self.ecs[svc["serviceArn"]] = state
        return state

    def _ecs_UpdateService(self, request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
        svc = response["service"]
        state = self._ecs_state(svc)
        new_td = self._full_td_arn(request.get("taskDefinition") or state.primary.task_definition)
        if "desiredCount" in request:
            state.desired = int(request["desiredCount"])
        if new_td != state.primary.task_definition or request.get("forceNewDeployment"):
            for d in state.deployments:
                if d.status == "PRIMARY":
                    d.status = "ACTIVE"
            dep = Deployment(id=_deployment_id(), task_definition=new_td, desired=state.desired,
                             pending=state.desired)
            state.deployments.insert(0, dep)
            state.ticks = 0
            state.event(f"(service {state.name}) has started 0 tasks: (deployment {dep.id}).")
        return {"service": self._ecs_render(state, svc)}

    def _ecs_before_update(self, request: dict[str, Any]) -> None:
        """First sight of a service at an update: record what it ran before (as COMPLETED)."""
        try:
            found = self._moto_ecs.describe_services(cluster=request.get("cluster", "default"),
                                                     services=[request["service"]])["services"]
        except Exception:  # moto answers the update itself with the proper error
            return
        for svc in found:
            self._ecs_state(svc)

    def _ecs_DescribeServices(self, request: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
        out = []
        for svc in response.get("services", []):
            state = self._ecs_state(svc)
            self._ecs_tick(state)
            out.append(self._ecs_render(state, svc))
        response["services"] = out
        return response

    def _ecs_tick(self, s: EcsService) -> None:
        primary = s.primary
        if primary.rollout != "IN_PROGRESS":
            return
        s.ticks += 1
        if s.rollback_of is not None:  # the rollback deployment settles like a normal one
            scenario = "complete"
        else:
            scenario = s.scenario
        if scenario == "never":
            primary.pending = primary.desired
            primary.failed += 1 if s.ticks % 3 == 0 else 0
            return
        if s.ticks < s.polls_needed:
            primary.running = min(primary.desired, primary.running + 1) if scenario == "complete" else 0
            primary.pending = primary.desired - primary.running
            if scenario != "complete":
                primary.failed += 1
            return
        primary.updated = _now()
        if scenario == "complete":
            primary.rollout, primary.running, primary.pending = "COMPLETED", primary.desired, 0
            primary.reason = f"ECS deployment {primary.id} completed."
            s.deployments = [primary]
            s.last_completed = primary.task_definition
            s.rollback_of = None
            s.event(f"(service {s.name}) (deployment {primary.id}) deployment completed.")
            s.event(f"(service {s.name}) has reached a steady state.")
            return
        primary.rollout, primary.running, primary.pending = "FAILED", 0, 0
        primary.failed = max(primary.failed, 3)
        primary.reason = "ECS deployment circuit breaker: tasks failed to start."
        s.event(f"(service {s.name}) (deployment {primary.id}) deployment failed: tasks failed to start.")
        if scenario == "rollback":
            back_to = next(d for d in s.deployments if d.task_definition == s.last_completed and d is not primary) \
                if any(d.task_definition == s.last_completed and d is not primary for d in s.deployments) else None
            primary.status = "ACTIVE"
            rb = Deployment(id=_deployment_id(), task_definition=s.last_completed, desired=s.desired,
                            pending=s.desired)
            s.deployments.insert(0, rb)
            s.rollback_of = primary
            s.ticks = 0
            s.event(f"(service {s.name}) rolling back to deployment {back_to.id if back_to else rb.id}.")
            # moto's service follows the rollback, as ECS's does
            self._moto_ecs.update_service(cluster=s.cluster_arn, service=s.arn, taskDefinition=s.last_completed)

    def _ecs_render(self, s: EcsService, svc: dict[str, Any]) -> dict[str, Any]:
        svc = dict(svc)
        svc["taskDefinition"] = s.primary.task_definition
        svc["desiredCount"] = s.desired
        svc["runningCount"] = sum(d.running for d in s.deployments)
        svc["pendingCount"] = sum(d.pending for d in s.deployments)
        svc["deployments"] = [d.wire() for d in s.deployments]
        svc["events"] = list(s.events[:20])
        svc["deploymentController"] = {"type": "ECS"}
        svc.setdefault("deploymentConfiguration", {
            "deploymentCircuitBreaker": {"enable": s.scenario != "never", "rollback": s.scenario == "rollback"},
            "maximumPercent": 200, "minimumHealthyPercent": 100})
        return svc

    # ------------------------------------------------------------------ Kafka: configurations
    def _config(self, arn: str) -> dict[str, Any]:
        cfg = self.configs.get(arn)
        if cfg is None:
            raise ApiError("NotFoundException", f"The requested resource {arn} was not found.", 404)
        return cfg

    @staticmethod
    def _rev_view(rev: dict[str, Any]) -> dict[str, Any]:
        return {k: rev[k] for k in ("CreationTime", "Description", "Revision")}

    def _kafka_CreateConfiguration(self, p: dict[str, Any]) -> dict[str, Any]:
        if any(c["Name"] == p["Name"] for c in self.configs.values()):
            raise ApiError("ConflictException", f"A configuration named {p['Name']} already exists.", 409)
        arn = f"arn:aws:kafka:{self.region}:{ACCOUNT}:configuration/{p['Name']}/{uuid.uuid4()}-1"
        rev = {"CreationTime": _now(), "Description": p.get("Description", ""), "Revision": 1,
               "ServerProperties": p["ServerProperties"]}
        self.configs[arn] = {"Arn": arn, "Name": p["Name"], "KafkaVersions": p.get("KafkaVersions", []),
                             "Description": p.get("Description", ""), "CreationTime": rev["CreationTime"],
                             "State": "ACTIVE", "revisions": [rev]}
        return {"Arn": arn, "CreationTime": rev["CreationTime"], "LatestRevision": self._rev_view(rev),
                "Name": p["Name"], "State": "ACTIVE"}

    def _config_view(self, cfg: dict[str, Any]) -> dict[str, Any]:
        return {"Arn": cfg["Arn"], "CreationTime": cfg["CreationTime"], "Description": cfg["Description"],
                "KafkaVersions": cfg["KafkaVersions"], "LatestRevision": self._rev_view(cfg["revisions"][-1]),
                "Name": cfg["Name"], "State": cfg["State"]}

    def _kafka_DescribeConfiguration(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._config_view(self._config(p["Arn"]))

    def _kafka_ListConfigurations(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Configurations": [self._config_view(c) for c in self.configs.values()]}

    def _kafka_DescribeConfigurationRevision(self, p: dict[str, Any]) -> dict[str, Any]:
        cfg = self._config(p["Arn"])
        n = int(p["Revision"])
        if not 1 <= n <= len(cfg["revisions"]):
            raise ApiError("NotFoundException", f"Revision {n} of {p['Arn']} was not found.", 404)
        rev = cfg["revisions"][n - 1]
        return {"Arn": cfg["Arn"], **self._rev_view(rev), "ServerProperties": rev["ServerProperties"]}

    def _kafka_ListConfigurationRevisions(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Revisions": [self._rev_view(r) for r in self._config(p["Arn"])["revisions"]]}

    def _kafka_UpdateConfiguration(self, p: dict[str, Any]) -> dict[str, Any]:
        cfg = self._config(p["Arn"])
        rev = {"CreationTime": _now(), "Description": p.get("Description", ""),
               "Revision": len(cfg["revisions"]) + 1, "ServerProperties": p["ServerProperties"]}
        cfg["revisions"].append(rev)
        return {"Arn": cfg["Arn"], "LatestRevision": self._rev_view(rev)}

    # ------------------------------------------------------------------ Kafka: clusters
    def _cluster(self, arn: str) -> MskCluster:
        c = self.clusters.get(arn)
        if c is None:
            raise ApiError("NotFoundException", f"The requested cluster {arn} was not found.", 404)
        return c

    def _kafka_CreateClusterV2(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ClusterName"]
        if any(c.name == name for c in self.clusters.values()):
            raise ApiError("ConflictException", f"A cluster with name {name} already exists.", 409)
        prov = p.get("Provisioned")
        if not prov:
            raise ApiError("BadRequestException", "The stand-in plays provisioned clusters only.")
        subnets = prov["BrokerNodeGroupInfo"]["ClientSubnets"]
        if prov["NumberOfBrokerNodes"] % len(subnets):
            raise ApiError("BadRequestException", "The number of broker nodes must be a multiple of Availability "
                                                  "Zones in the Client Subnets parameter.")
        if "ConfigurationInfo" in prov:
            self._config(prov["ConfigurationInfo"]["Arn"])
        arn = f"arn:aws:kafka:{self.region}:{ACCOUNT}:cluster/{name}/{uuid.uuid4()}-2"
        sc = self.msk_scenarios.get(name, {"create": "active", "update": "complete", "polls": 2})
        self.clusters[arn] = MskCluster(arn=arn, name=name, provisioned=prov, created=_now(),
                                        create_scenario=sc["create"], update_scenario=sc["update"],
                                        polls_needed=sc["polls"])
        return {"ClusterArn": arn, "ClusterName": name, "State": "CREATING", "ClusterType": "PROVISIONED"}

    def _tick_create(self, c: MskCluster) -> None:
        if c.state != "CREATING" or c.create_scenario == "never":
            return
        c.ticks += 1
        if c.ticks >= c.polls_needed:
            if c.create_scenario == "failed":
                c.state = "FAILED"
                c.state_info = {"Code": "InsufficientCapacity", "Message": "Broker type not available in the AZ."}
            else:
                c.state = "ACTIVE"

    def _cluster_info(self, c: MskCluster) -> dict[str, Any]:
        prov = c.provisioned
        cfg = prov.get("ConfigurationInfo") or {}
        software = {"KafkaVersion": prov["KafkaVersion"]}
        if cfg:
            software.update({"ConfigurationArn": cfg["Arn"], "ConfigurationRevision": cfg["Revision"]})
        provisioned = {
            "BrokerNodeGroupInfo": prov["BrokerNodeGroupInfo"],
            "CurrentBrokerSoftwareInfo": software,
            "ClientAuthentication": prov.get("ClientAuthentication", {}),
            "EncryptionInfo": prov.get("EncryptionInfo", {}),
            "NumberOfBrokerNodes": prov["NumberOfBrokerNodes"],
            "EnhancedMonitoring": "DEFAULT",
        }
        info = {"ClusterType": "PROVISIONED", "ClusterArn": c.arn, "ClusterName": c.name, "CreationTime": c.created,
                "CurrentVersion": c.version, "State": c.state, "Tags": {}, "Provisioned": provisioned}
        if c.state_info:
            info["StateInfo"] = c.state_info
        if c.operation and c.state == "UPDATING":
            info["ActiveOperationArn"] = c.operation["OperationArn"]
        return info

    def _kafka_DescribeClusterV2(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self._cluster(p["ClusterArn"])
        self._tick_create(c)
        return {"ClusterInfo": self._cluster_info(c)}

    def _kafka_ListClustersV2(self, p: dict[str, Any]) -> dict[str, Any]:
        prefix = p.get("ClusterNameFilter") or ""
        return {"ClusterInfoList": [self._cluster_info(c) for c in self.clusters.values() if c.name.startswith(prefix)]}

    def _kafka_GetBootstrapBrokers(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self._cluster(p["ClusterArn"])
        if c.state not in ("ACTIVE", "UPDATING"):
            raise ApiError("BadRequestException", f"The cluster is in {c.state} state; bootstrap brokers are not "
                                                  "available yet.")
        auth = c.provisioned.get("ClientAuthentication") or {}
        enc = ((c.provisioned.get("EncryptionInfo") or {}).get("EncryptionInTransit") or {}).get("ClientBroker", "TLS")
        n = c.provisioned["NumberOfBrokerNodes"]
        suffix = f"{c.name}.{uuid.UUID(int=hash(c.arn) & (2**128 - 1)).hex[:6]}.c2.kafka.{self.region}.amazonaws.com"

        def hosts(port: int) -> str:
            return ",".join(f"b-{i}.{suffix}:{port}" for i in range(1, min(n, 3) + 1))

        out: dict[str, Any] = {}
        sasl = auth.get("Sasl") or {}
        if (sasl.get("Iam") or {}).get("Enabled"):
            out["BootstrapBrokerStringSaslIam"] = hosts(9098)
        if (sasl.get("Scram") or {}).get("Enabled"):
            out["BootstrapBrokerStringSaslScram"] = hosts(9096)
        if (auth.get("Tls") or {}).get("Enabled") or enc in ("TLS", "TLS_PLAINTEXT"):
            if (auth.get("Tls") or {}).get("Enabled") or (auth.get("Unauthenticated") or {}).get("Enabled"):
                out["BootstrapBrokerStringTls"] = hosts(9094)
        if enc in ("PLAINTEXT", "TLS_PLAINTEXT"):
            out["BootstrapBrokerString"] = hosts(9092)
        return out

    def _kafka_UpdateClusterConfiguration(self, p: dict[str, Any]) -> dict[str, Any]:
        c = self._cluster(p["ClusterArn"])
        if c.state != "ACTIVE":
            raise ApiError("BadRequestException", f"The cluster is in {c.state} state; it must be ACTIVE.")
        if p["CurrentVersion"] != c.version:
            raise ApiError("BadRequestException", "The provided cluster version does not match the current version.")
        info = p["ConfigurationInfo"]
        cfg = self._config(info["Arn"])
        if not 1 <= int(info["Revision"]) <= len(cfg["revisions"]):
            raise ApiError("BadRequestException", "The configuration revision does not exist.")
        op_arn = f"arn:aws:kafka:{self.region}:{ACCOUNT}:cluster-operation/{c.name}/{uuid.uuid4()}"
        c.state = "UPDATING"
        c.operation = {"ClusterArn": c.arn, "OperationArn": op_arn, "CreationTime": _now(),
                       "OperationType": "UPDATE_CLUSTER_CONFIGURATION", "OperationState": "PENDING",
                       "OperationSteps": []}
        c.op_ticks = 0
        c.pending_config = dict(info)
        self.operations[op_arn] = c.arn
        return {"ClusterArn": c.arn, "ClusterOperationArn": op_arn}

    def _kafka_DescribeClusterOperation(self, p: dict[str, Any]) -> dict[str, Any]:
        arn = self.operations.get(p["ClusterOperationArn"])
        if arn is None:
            raise ApiError("NotFoundException", "The requested cluster operation was not found.", 404)
        c = self.clusters[arn]
        op = c.operation
        assert op is not None
        if op["OperationState"] in ("PENDING", "UPDATE_IN_PROGRESS") and c.update_scenario != "never":
            c.op_ticks += 1
            op["OperationState"] = "UPDATE_IN_PROGRESS"
            op["OperationSteps"].append({"StepName": f"UPDATE_BROKER_{c.op_ticks}",
                                         "StepInfo": {"StepStatus": "IN_PROGRESS"}})
            if c.op_ticks >= c.polls_needed:
                c.state = "ACTIVE"
                c.version = f"K{int(c.version[1:]) + 1}"
                op["EndTime"] = _now()
                if c.update_scenario == "failed":
                    op["OperationState"] = "UPDATE_FAILED"
                    op["ErrorInfo"] = {"ErrorCode": "InvalidConfiguration",
                                       "ErrorString": "Brokers failed to start with the new configuration."}
                else:
                    op["OperationState"] = "UPDATE_COMPLETE"
                    c.provisioned["ConfigurationInfo"] = c.pending_config
        elif c.update_scenario == "never":
            op["OperationState"] = "UPDATE_IN_PROGRESS"
        return {"ClusterOperationInfo": {k: v for k, v in op.items()}}


def new_standin(moto_url: str, region: str = "us-east-1") -> StandIn:
    return StandIn(moto_url, region).start()


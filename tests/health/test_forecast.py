"""Capacity forecast: the math, opskit's sample store, a whole-fleet run, and real Prometheus history."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request

import pytest

from opskit.inventory import load_inventory, load_text
from opskit.health.forecast import (DAY, Sample, SampleStore, budget, days_until, fleet_forecast, forecast, mount_for,
                                    prometheus_samples)
from opskit.output.report import Severity

GiB = 1024**3


def _linear(n=50, start=400 * GiB, per_day=2 * GiB, size=1000 * GiB, t0=1_700_000_000.0, step=3600.0):
    return [Sample(t0 + i * step, start + per_day * (i * step / DAY), size) for i in range(n)]


def test_least_squares_growth_and_days_until_full():
    ss = _linear()
    fc = forecast(reversed(ss))  # order does not matter
    assert fc.growth_bytes_per_day == pytest.approx(2 * GiB)
    now_used = ss[-1].used_bytes
    assert fc.days_to_90 == pytest.approx((900 * GiB - now_used) / (2 * GiB))
    assert fc.days_to_100 == pytest.approx((1000 * GiB - now_used) / (2 * GiB))
    assert fc.r2 == pytest.approx(1.0)
    # noise around the line does not move the slope much
    noisy = [Sample(s.ts, s.used_bytes + (GiB if i % 2 else -GiB) * 0.1, s.size_bytes) for i, s in enumerate(ss)]
    assert forecast(noisy).growth_bytes_per_day == pytest.approx(2 * GiB, rel=0.05)
    # shrinking or flat: never; already above: now
    assert forecast([Sample(0, 10, 100), Sample(DAY, 5, 100)]).days_to_90 is None
    assert days_until(95, 100, 90, 1.0) == 0.0
    single = forecast([Sample(0, 10, 100)])
    assert single.growth_bytes_per_day is None and single.days_to_100 is None


def test_budget_for_a_target_number_of_days():
    b = budget(used_bytes=600 * GiB, size_bytes=1000 * GiB, target_days=90, avg_block_bytes=50_000, txs_per_block=10)
    assert b.headroom_bytes == pytest.approx(300 * GiB)
    assert b.bytes_per_day == pytest.approx(300 * GiB / 90)
    assert b.blocks_per_day == pytest.approx(300 * GiB / 90 / 50_000)
    assert b.tx_per_day == pytest.approx(b.blocks_per_day * 10)
    assert b.bytes_per_day_to_100 == pytest.approx(400 * GiB / 90)
    assert budget(950, 1000).bytes_per_day == 0.0
    with pytest.raises(ValueError):
        budget(1, 2, target_days=0)


def test_sample_store_round_trip_and_torn_line(tmp_path):
    st = SampleStore(str(tmp_path))
    for s in _linear(n=5):
        st.append("h1", "/data", s.used_bytes, s.size_bytes, ts=s.ts)
    st.append("h1", "/", 1, 10, ts=5.0)
    with open(tmp_path / "h1.jsonl", "a") as f:
        f.write('{"ts": 9, "mount": "/da')  # a crash mid-write
    got = st.load("h1")
    assert len(got["/data"]) == 5 and got["/"] == [Sample(5.0, 1, 10)]
    assert st.load("h1", mount="/data", since=_linear(n=5)[3].ts) == {"/data": _linear(n=5)[3:]}
    assert st.load("nobody") == {}
    with pytest.raises(ValueError):
        st.append("../x", "/", 1, 2)


def test_mount_for_longest_prefix():
    mounts = ["/", "/data", "/data/docker", "/var"]
    assert mount_for("/data/docker/volumes", mounts) == "/data/docker"
    assert mount_for("/data/hyperledger", mounts) == "/data"
    assert mount_for("/srv", mounts) == "/"
    assert mount_for("/database", ["/data"]) is None


def test_fleet_forecast_from_opskit_samples(tmp_path):
    """A real df sample of this machine through the engine, fitted together with recorded history."""
    inv = load_inventory(None)  # the embedded local inventory: this machine, connection local
    st = SampleStore(str(tmp_path))
    first = fleet_forecast(inv, list(inv.hosts.values()), store=st)
    (f,) = first.findings
    assert f.severity is Severity.UNKNOWN and "not enough history" in f.message and f.data["mount"] == "/"
    # pretend the previous samples were taken over the last two days, 4 GiB lower on day 0
    (now_row,) = st.load("localhost")["/"]
    st2 = SampleStore(str(tmp_path / "b"))
    for k in range(0, 48, 6):
        st2.append("localhost", "/", now_row.used_bytes - 4 * GiB + k * (2 * GiB / 24), now_row.size_bytes,
                   ts=now_row.ts - 2 * DAY + k * 3600)
    rep = fleet_forecast(inv, list(inv.hosts.values()), store=st2, target_days=30, avg_block_bytes=1_000_000,
                         txs_per_block=10)
    (f,) = rep.findings
    assert f.data["samples"] == 9 and f.data["source"] == "opskit samples"
    assert 1.5 * GiB < f.data["growth_bytes_per_day"] < 2.5 * GiB
    b = f.data["budget"]
    assert b["target_days"] == 30 and b["tx_per_day"] == pytest.approx(b["blocks_per_day"] * 10, rel=1e-3)
    assert "days" in f.message and "blocks/day" in f.message


PROM = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


@pytest.fixture
def prometheus(tmp_path):
    """A real Prometheus on loopback whose TSDB holds 7 days of backfilled node_exporter filesystem history."""
    if not (PROM and PROMTOOL):
        pytest.skip("prometheus/promtool not installed")
    now = int(time.time()) // 3600 * 3600
    lines = []
    for m in ("size", "free", "avail"):
        lines += [f"# HELP node_filesystem_{m}_bytes fs", f"# TYPE node_filesystem_{m}_bytes gauge"]
        for inst, mp, per_day in (("127.0.0.1:9100", "/data", 2 * GiB), ("127.0.0.1:9100", "/", 0)):
            for h in range(7 * 24, 0, -1):
                used = 400 * GiB + (7 * 24 - h) * per_day / 24
                val = {"size": 1000 * GiB, "free": 1000 * GiB - used, "avail": 1000 * GiB - used - 50 * GiB}[m]
                lines.append(f'node_filesystem_{m}_bytes{{instance="{inst}",mountpoint="{mp}",fstype="ext4"}} {val} {now - h * 3600}')
    lines.append("# EOF")
    om = tmp_path / "fs.om"
    om.write_text("\n".join(lines) + "\n")
    data = tmp_path / "data"
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h", str(om), str(data)],
                   check=True, capture_output=True)
    from opskit_lab.wait import free_port, wait_for

    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen([PROM, f"--config.file={cfg}", f"--storage.tsdb.path={data}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d"],
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: urllib.request.urlopen(url + "/-/ready", timeout=1).status == 200, timeout=20,
                 what="prometheus ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_prometheus_history(prometheus):
    series = prometheus_samples(prometheus, days=7)
    data = series[("127.0.0.1:9100", "/data")]
    assert len(data) >= 160
    fc = forecast(data)
    assert fc.growth_bytes_per_day == pytest.approx(2 * GiB, rel=1e-6)
    assert fc.size_bytes == pytest.approx(950 * GiB)  # used + avail: df's view
    assert forecast(series[("127.0.0.1:9100", "/")]).days_to_90 is None
    inv = load_text(f"""
version: 2
hosts:
  box:
    address: 127.0.0.1
    connection: local
    ledger_paths: [/data/hyperledger]
monitoring:
  prometheus_url: {prometheus}
""")
    rep = fleet_forecast(inv, list(inv.hosts.values()), target_days=90)
    by_mount = {f.data["mount"]: f for f in rep.findings}
    assert set(by_mount) == {"/", "/data"}
    assert by_mount["/data"].data["paths"] == ["/data/hyperledger"] and by_mount["/data"].data["source"] == "prometheus"
    d90 = by_mount["/data"].data["days_to_90"]
    assert 200 < d90 < 240 and by_mount["/data"].severity is Severity.OK
    assert by_mount["/"].severity is Severity.OK and "never" in by_mount["/"].message

"""`fluorogate sweep --executor ray`: the local cluster listens on 127.0.0.1 only, stages run as Ray tasks
that share the cache with the local executor, failures are recorded, joining a cluster needs its token
(Ctrl-C on Ray: test_bench_sweep.py's Ctrl-C test, `ray-SIGINT`).

Ray is an optional extra (`pip install 'fluorogate[cluster]'`): without it these tests are skipped.
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import TIMES_OUT, TINY, TWO_POINTS, descendants, needs_ray, sweep_cli

from fluorogate.bench.sweep import run_sweep
from fluorogate.bench.sweep_point import SweepConfig

pytestmark = needs_ray


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        pass
    return inodes


def _listening(pids: set[int]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses that `pids` listen on over TCP, from /proc/net/tcp{,6} (what `ss -ltnp` reads)."""
    inodes = set().union(*(_socket_inodes(p) for p in pids))
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(fields[1].split(":")[0])
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # host-order 32-bit words
            addr = ipaddress.ip_address(raw)
            found.append(addr.ipv4_mapped or addr if isinstance(addr, ipaddress.IPv6Address) else addr)
    return found


def test_local_cluster_listens_on_loopback_only():
    """Every socket that the local cluster's processes (GCS, raylet, workers, agents) listen on is
    127.0.0.1."""
    from fluorogate.bench.sweep_engines import ray_session

    with ray_session(None, 2) as ray:
        assert ray.get(ray.remote(lambda: socket.gethostname()).remote())  # the workers are up
        addresses = _listening(descendants(os.getpid()))
        assert ray.cluster_resources()["CPU"] == 2
    assert len(addresses) >= 3, addresses  # GCS, raylet, a worker at least: the check saw them
    assert all(a.is_loopback for a in addresses), addresses
    if os.environ.get("RAY_AUTH_MODE", "token") == "token":  # Ray's default for a local cluster: a token
        assert (Path.home() / ".ray" / "auth_token").stat().st_mode & 0o077 == 0, (
            "the token is the owner's only"
        )


def test_ray_sweep_records_failures_and_shares_the_cache_with_local(tmp_path):
    """Train and export run as Ray tasks, synthesis fails past its limit and is recorded; the local executor
    then finds train and export in the same cache."""
    out = tmp_path / "out"
    cfg = SweepConfig(**TINY, timeout_minutes=TIMES_OUT)
    [p] = run_sweep(cfg, out, executor="ray")["points"]
    assert p["failed_stage"] == "synth" and "ran past" in p["error"] and Path(p["log"]).is_file()
    assert p["hosts"] == {"train": socket.gethostname(), "export": socket.gethostname()} and p["cached"] == []
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["status"] == "finished" and saved["executor"]["kind"] == "ray"
    [q] = run_sweep(cfg, out, executor="local")["points"]
    assert q["cached"] == ["train", "export"] and q["psnr_qat"] == p["psnr_qat"]


@pytest.mark.slow
def test_two_point_sweep_on_ray(tmp_path):
    """Real training, export and yosys synthesis of two points as Ray tasks on a 2-CPU local cluster."""
    cfg = SweepConfig(**TWO_POINTS)
    pts = run_sweep(cfg, tmp_path, executor="ray")["points"]
    assert [(p["bits"], p["channels"]) for p in pts] == [("w2a8", 4), ("w8a8", 4)]
    for p in pts:
        assert "error" not in p and p["lut"] > 0 and p["latency_cycles"] > 0 and p["fmax_mhz"] is None
        assert list(p["hosts"]) == ["train", "export", "synth"]
    assert pts[0]["lut"] < pts[1]["lut"]
    assert (tmp_path / "pareto.png").stat().st_size > 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_joining_a_cluster_needs_its_token(tmp_path):
    """A head started with `ray start --head` and RAY_AUTH_MODE=token (on 127.0.0.1, as a stand-in for a
    cluster node): `--address` with the token runs the sweep's stages there; with another token it is
    refused."""
    token = tmp_path / "token"
    token.write_text("a" * 32)
    token.chmod(0o600)
    port = _free_port()
    env = os.environ | {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    ray_bin = Path(sys.executable).parent / "ray"
    head = subprocess.Popen(
        [
            str(ray_bin),
            "start",
            "--head",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--block",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(20)  # the head's GCS and raylet come up
        assert head.poll() is None, head.stdout.read()
        cmd = sweep_cli(
            tmp_path / "out",
            "--timeout",
            str(TIMES_OUT),
            "--executor",
            "ray",
            "--address",
            f"127.0.0.1:{port}",
        )
        wrong = tmp_path / "wrong"
        wrong.write_text("b" * 32)
        refused = subprocess.run(
            cmd, env=env | {"RAY_AUTH_TOKEN_PATH": str(wrong)}, capture_output=True, text=True, timeout=300
        )
        assert refused.returncode == 2 and "cannot join" in refused.stderr, refused.stderr[-2000:]
        joined = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert joined.returncode == 0, joined.stderr[-2000:]
        [p] = json.loads((tmp_path / "out" / "sweep.json").read_text())["points"]
        assert p["failed_stage"] == "synth" and list(p["hosts"]) == ["train", "export"]
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head's whole process group: GCS, raylet, workers
        head.wait(timeout=60)


def test_a_stage_that_no_node_can_hold_is_refused(tmp_path):
    """Ray would wait forever for a task bigger than every node: on the local cluster the sweep refuses it."""
    from fluorogate.bench.sweep_point import StageResources, default_resources
    from fluorogate.errors import UserError

    huge = default_resources() | {"train": StageResources(cpus=1, memory_gb=4096)}
    with pytest.raises(UserError, match="stage train asks for 1 CPU and 4096 GiB"):
        run_sweep(SweepConfig(**TINY, resources=huge), tmp_path, executor="ray")
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["status"] == "failed" and "--resources train=" in saved["error"] and saved["points"] == []

"""Where a sweep's points run: a local process pool, or Ray (a local cluster on 127.0.0.1, or the user's).

Both yield each point's record as soon as it is finished (or failed), so the driver can stream them
into sweep.json. Ray is an optional extra (`pip install 'fluorogate[cluster]'`), imported only here and
only for `--executor ray`.

- `local`: one process (spawn) per point, `jobs` at a time; a point's stages run in order inside it.
- `ray`: one task per stage, chained by object references (export waits for train, ...), each declaring
  its CPUs and memory (`SweepConfig.resources`) so that Ray never places more place-and-route jobs on a
  node than it has memory for. With no address, a private local cluster of `jobs` CPUs whose every
  server listens on 127.0.0.1 only, with no dashboard unless asked for (then on 127.0.0.1 as well);
  with an address, the user's cluster, which authenticates with Ray's token (RAY_AUTH_MODE=token).
"""

from __future__ import annotations

import ipaddress
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

from fluorogate.bench.sweep_point import SweepConfig, new_point, run_point, run_stage
from fluorogate.errors import UserError

Grid = list[tuple[str, int]]
# Ray takes this variable at import time: "0" makes a single-machine instance use the loopback address
# as its node address, and from Ray 2.5x every server binds to the node address (not 0.0.0.0).
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
GIB = 2**30
CANCEL_GRACE_S = 15
RAY_MISSING = "--executor ray needs Ray: pip install 'fluorogate[cluster]' (or use --executor local)"


def _failed(bits: str, channels: int, reason: str) -> dict:
    return new_point(bits, channels) | {"error": reason, "failed_stage": None}


def _stop_pool(pool: ProcessPoolExecutor) -> None:
    """Ctrl-C: each worker gets SIGINT (it removes its stage's private folder), then SIGTERM if it lingers."""
    procs = list(getattr(pool, "_processes", {}).values())  # the pool has no public handle on its workers
    for proc in procs:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 5
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive():
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def local_points(grid: Grid, cfg: SweepConfig, cache_root: str, code: str) -> Iterator[dict]:
    """Points in a pool of `cfg.jobs` fresh interpreters (spawn: torch threads, no forked locks)."""
    pool = ProcessPoolExecutor(max_workers=cfg.jobs, mp_context=multiprocessing.get_context("spawn"))
    futures = {pool.submit(run_point, b, c, cfg, cache_root, code): (b, c) for b, c in grid}
    try:
        for fut in as_completed(futures):
            b, c = futures[fut]
            try:
                yield fut.result()
            except Exception as exc:  # the worker process died (killed, out of memory): the point failed
                yield _failed(b, c, f"worker process: {type(exc).__name__}: {exc}")
    except BaseException:
        _stop_pool(pool)
        raise
    pool.shutdown(wait=True)


@contextmanager
def ray_session(address: str | None, cpus: int, dashboard: bool = False) -> Iterator[object]:
    """`ray` connected to the cluster at `address`, or to a new private local cluster (127.0.0.1 only)."""
    if address is None:
        if "ray" in sys.modules and os.environ.get(LOOPBACK_ENV) != "0":  # too late to keep it on loopback
            raise UserError(
                f"ray was imported before the sweep could set {LOOPBACK_ENV}=0, so its local cluster "
                "would listen on the network; run the sweep in a fresh process"
            )
        os.environ[LOOPBACK_ENV] = "0"  # read when ray is first imported, just below
    try:
        import ray
    except ImportError:
        raise UserError(RAY_MISSING) from None
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        ray.init(
            address="local", num_cpus=cpus, include_dashboard=dashboard, dashboard_host="127.0.0.1", **options
        )
        _close_token_file()
        ip = ray.util.get_node_ip_address()
        if not ipaddress.ip_address(ip).is_loopback:
            ray.shutdown()
            raise UserError(
                f"the local Ray cluster took the network address {ip}, not 127.0.0.1 (ray was imported "
                f"before fluorogate could set {LOOPBACK_ENV}=0); refusing to open it to the network"
            )
    else:
        try:
            ray.init(address=address, **options)
        except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
            raise UserError(
                f"--address {address}: cannot join the Ray cluster ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0]}); a cluster with RAY_AUTH_MODE=token needs its token "
                "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token)"
            ) from None
    try:
        yield ray
    finally:
        ray.shutdown()  # a local cluster stops with it; a remote one only loses this driver


def _close_token_file() -> None:
    """Make Ray's token file (~/.ray/auth_token, generated on the first local start) readable by its owner
    only.

    Ray 2.60 writes it with the umask's mode (0644 here): another user of the machine could read it and, the
    servers being on 127.0.0.1, connect to this user's local cluster with it.
    """
    token = Path.home() / ".ray" / "auth_token"
    if token.is_file() and token.stat().st_mode & 0o077:
        token.chmod(0o600)
        logging.getLogger(__name__).info("made %s readable by its owner only", token)


def check_resources(ray, cfg: SweepConfig, local: bool) -> None:
    """Refuse a stage that no node can ever run (Ray would wait for it forever) on a fixed, local cluster.

    On a remote cluster an autoscaler may still add such a node, so there it is only logged.
    """
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for stage in cfg.stages():
        res = cfg.resources[stage]
        if not any(n.get("CPU", 0) >= res.cpus and n.get("memory", 0) >= res.memory_gb * GIB for n in nodes):
            best = max((n.get("memory", 0) / GIB for n in nodes), default=0.0)
            msg = (
                f"stage {stage} asks for {res.cpus:g} CPU and {res.memory_gb:g} GiB but no node of the Ray "
                f"cluster has that (largest: {best:.1f} GiB for tasks); lower it with --resources "
                f"{stage}=CPUS:GIB"
            )
            if local:
                raise UserError(msg)
            logging.getLogger(__name__).warning("%s (waiting for the autoscaler)", msg)


def ray_points(
    grid: Grid,
    cfg: SweepConfig,
    cache_root: str,
    code: str,
    address: str | None = None,
    dashboard: bool = False,
) -> Iterator[dict]:
    """Every stage of every point as a Ray task with its resources; records as the points finish."""
    with ray_session(address, cfg.jobs, dashboard) as ray:
        check_resources(ray, cfg, local=address is None)
        task = ray.remote(max_retries=0)(run_stage)  # a failed stage is recorded, not retried
        every, finals = [], {}
        for b, c in grid:
            ref = new_point(b, c)
            for stage in cfg.stages():
                res = cfg.resources[stage]
                ref = task.options(
                    num_cpus=res.cpus, memory=int(res.memory_gb * GIB), name=f"sweep {stage} {b} c{c}"
                ).remote(stage, ref, cfg, cache_root, code)
                every.append(ref)
            finals[ref] = (b, c)
        pending = list(finals)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                b, c = finals[done[0]]
                try:
                    yield ray.get(done[0])
                except ray.exceptions.RayError as exc:  # a worker or node died under the task
                    yield _failed(b, c, f"ray: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        finally:
            if pending:  # Ctrl-C (or the caller stopped): do not leave the cluster working for nobody
                _cancel(ray, every)


def _cancel(ray, refs: list) -> None:
    """Cancel `refs`: first as Ctrl-C inside each running task (it removes its private folder and its tool
    process), then, for a task still running after a grace period, by killing its worker."""
    for ref in refs:
        ray.cancel(ref)
    _, running = ray.wait(refs, num_returns=len(refs), timeout=CANCEL_GRACE_S)
    for ref in running:
        ray.cancel(ref, force=True)


ENGINES = ("local", "ray")

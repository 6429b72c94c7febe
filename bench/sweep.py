"""`fluorogate sweep`: the design space over bit widths and channel counts, as PSNR vs LUTs vs Fmax vs
latency.

Each grid point is a short training run (the default recipe's data and camera, fewer steps: the
points are compared with each other, not with the shipped model), exported, its PSNR measured on the
evaluation's simulated conditions (`models.evaluate`), its RTL generated at a small frame width and
synthesized with yosys `synth_ecp5` (LUTs; the logic does not depend on the width, the line buffers
do), optionally placed and routed (Fmax): the stages of `bench.sweep_point`, each cached by fingerprint.

The points run on an executor (`bench.sweep_engines`: a local process pool, or Ray on a local cluster
or the user's). Records stream into sweep.json as points finish (`status` running, interrupted,
finished); sweep.md, pareto.png and psnr_bits.png are drawn at the end, and on demand from sweep.json
(`write_sweep_report`, `fluorogate sweep --report`). Running the same sweep again resumes it: finished
stages come from the cache, failed points are tried again.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fluorogate.bench.sweep_point import SweepConfig
from fluorogate.errors import UserError

REPORT_FILES = ("sweep.json", "sweep.md", "pareto.png", "psnr_bits.png")
LOCK = "sweep.lock"
# Fields that say how a sweep is scheduled, not what it computes: a rerun may change them and still resume.
SCHEDULING = {"jobs", "timeout_minutes", "resources"}


def mark_pareto(points: list[dict]) -> None:
    """`pareto` = no other point has at most its LUTs and latency and at least its PSNR, one strictly
    better."""

    def dominates(a: dict, b: dict) -> bool:
        ge = (
            a["lut"] <= b["lut"]
            and a["latency_cycles"] <= b["latency_cycles"]
            and a["psnr_qat"] >= b["psnr_qat"]
        )
        gt = a["lut"] < b["lut"] or a["latency_cycles"] < b["latency_cycles"] or a["psnr_qat"] > b["psnr_qat"]
        return ge and gt

    ok = [p for p in points if "error" not in p]
    for p in ok:
        p["pareto"] = not any(dominates(q, p) for q in ok if q is not p)


def write_sweep_report(result: dict, out: Path) -> None:
    """sweep.md, pareto.png and psnr_bits.png from a sweep.json's contents (finished or not)."""
    from fluorogate.bench.plots import pareto_plot, psnr_bits_plot
    from fluorogate.bench.report import markdown_table
    from fluorogate.outputs import write_atomic, write_text_atomic

    cfg, points = result["config"], result["points"]
    mark_pareto(points)
    rows = [p | {"cached": ",".join(p.get("cached", []))} for p in points]
    cols = [
        "bits",
        "channels",
        "psnr_float",
        "psnr_qat",
        "lut",
        "ff",
        "ccu2c",
        "dp16kd",
        "fmax_mhz",
        "timing",
        "latency_cycles",
        "pareto",
        "cached",
        "error",
        "log",
    ]
    end = result.get("machine_end") or {}
    md = (
        f"# fluorogate sweep\n\nStatus: **{result['status']}**, {len(points)} of {result['grid_points']} "
        f"points ({sum('error' in p for p in points)} failed), executor `{result['executor']['kind']}`"
        + (f", wall {result['wall_s']:.0f} s" if result.get("wall_s") else "")
        + ". "
        f"{cfg['steps']} training steps per point; PSNR: mean over the evaluation's conditions "
        f"({cfg['eval_frames']} frames of {cfg['eval_size']}x{cfg['eval_size']}); resources: yosys "
        f"synth_ecp5 of the core at {cfg['size']}x{cfg['size']}; latency: cycles at "
        f"{cfg['latency_size']}-wide frames. Load average at start "
        f"{result['machine_start']['load_avg_1_5_15']}, at end {end.get('load_avg_1_5_15')}. Cache: "
        f"`{result['cache']}`.\n\n"
        + markdown_table(rows, [c for c in cols if any(r.get(c) not in (None, "") for r in rows)])
    )
    write_text_atomic(out / "sweep.md", md, force=True)
    write_atomic(out / "pareto.png", lambda p: pareto_plot(result, p), force=True)
    write_atomic(out / "psnr_bits.png", lambda p: psnr_bits_plot(result, p), force=True)


def redraw(out: str | Path) -> dict:
    """`fluorogate sweep --report`: the report and plots again from OUT/sweep.json (also while it runs)."""
    out = Path(out)
    result = read_sweep(out)
    if result is None:
        raise UserError(f"{out / 'sweep.json'}: no sweep there to draw")
    write_sweep_report(result, out)
    return result


def read_sweep(out: Path) -> dict | None:
    try:
        return json.loads((out / "sweep.json").read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        raise UserError(f"{out / 'sweep.json'}: not a sweep.json (unreadable JSON)") from None


def _same_sweep(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k not in SCHEDULING} == {
        k: v for k, v in b.items() if k not in SCHEDULING
    }


@contextmanager
def _lock(out: Path) -> Iterator[None]:
    """One sweep at a time writes into `out`: `sweep.lock` names its host and process; a dead one's is taken
    over."""
    path, me = out / LOCK, f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            host, _, pid = path.read_text().partition(" ")
            alive = True
            if host == socket.gethostname() and pid.isdigit():
                try:
                    os.kill(int(pid), 0)
                except ProcessLookupError:
                    alive = False
                except PermissionError:
                    pass
            if alive:
                raise UserError(
                    f"{out}: another sweep (host {host}, process {pid}) is writing into it; wait for "
                    f"it, or delete {path} if that process is gone"
                ) from None
            path.unlink(missing_ok=True)
    else:
        raise UserError(f"{path}: could not take the lock")
    os.write(fd, me.encode())
    os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _summary(p: dict) -> str:
    head = f"{p['bits']} c{p['channels']}: "
    if "error" in p:
        return head + f"FAILED {p['error'].splitlines()[0]}" + (f" (log {p['log']})" if p.get("log") else "")
    fmax = f", {p['fmax_mhz']} MHz ({p['timing']})" if p.get("fmax_mhz") else ""
    cached = f"; cached: {', '.join(p['cached'])}" if p["cached"] else ""
    return head + f"PSNR QAT {p['psnr_qat']} dB, {p['lut']} LUT4{fmax}{cached}"


def run_sweep(
    cfg: SweepConfig,
    out: str | Path,
    force: bool = False,
    executor: str = "local",
    address: str | None = None,
    cache: str | Path | None = None,
    dashboard: bool = False,
) -> dict:
    """Every (bits, channels) point of `cfg` on `executor`; sweep.json grows as points finish; report at the
    end.

    `cache` (default OUT/cache) holds the finished stages by fingerprint: share it between sweeps and
    users (on a cluster: a folder every node sees). Rerunning the same sweep into `out` resumes it;
    another sweep's report in `out` is kept unless `force`.
    """
    from tqdm import tqdm

    from fluorogate.bench.machine import machine_state
    from fluorogate.bench.stage_cache import StageCache
    from fluorogate.bench.sweep_engines import ENGINES, RAY_MISSING, local_points, ray_points
    from fluorogate.fingerprint import code_fingerprint
    from fluorogate.outputs import check_writable, write_text_atomic

    out = Path(out)
    grid = [(b, c) for b in cfg.bits for c in cfg.channels]
    if not grid:
        raise UserError("the sweep grid is empty: give at least one --bits and one --channels value")
    if executor not in ENGINES:
        raise UserError(f"--executor {executor}: expected one of {', '.join(ENGINES)}")
    if address is not None and executor != "ray":
        raise UserError("--address joins a Ray cluster: it needs --executor ray")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise UserError(RAY_MISSING)
    missing = [s for s in cfg.stages() if s not in cfg.resources]
    if missing:
        raise UserError(f"resources: no entry for stage(s) {', '.join(missing)}")
    prior = read_sweep(out)
    if prior is not None and not force and not _same_sweep(prior["config"], cfg.model_dump(mode="json")):
        raise UserError(
            f"{out} holds the report of another sweep (other grid or settings); pass --force to "
            "replace it (finished points are reused from the cache either way) or choose another --out"
        )
    if prior is None:
        for name in REPORT_FILES:
            check_writable(out / name, force)
    out.mkdir(parents=True, exist_ok=True)
    stages = StageCache(cache if cache is not None else out / "cache")
    stages.remove_stale()
    with _lock(out):
        t0 = time.perf_counter()
        result = {
            "config": cfg.model_dump(mode="json"),
            "grid_points": len(grid),
            "status": "running",
            "executor": {"kind": executor, "address": address},
            "cache": str(stages.root),
            "size": cfg.size,
            "points": [],
            "machine_start": machine_state(),
        }

        def save(status: str) -> None:
            result["points"].sort(key=lambda p: (p["channels"], p["bits"]))
            result.update(
                {
                    "status": status,
                    "wall_s": round(time.perf_counter() - t0, 1),
                    "machine_end": machine_state(),
                }
            )
            write_text_atomic(out / "sweep.json", json.dumps(result, indent=1), force=True)

        save("running")
        code = code_fingerprint()
        points = (
            local_points(grid, cfg, str(stages.root), code)
            if executor == "local"
            else ray_points(grid, cfg, str(stages.root), code, address, dashboard)
        )
        bar = tqdm(total=len(grid), desc=f"sweep ({executor})", unit="point")
        try:
            for point in points:
                result["points"].append(point)
                bar.update(1)
                bar.write(_summary(point))
                save("running")
        except BaseException as exc:
            points.close()  # the executor stops its workers (Ctrl-C) before the record says so
            if not isinstance(exc, KeyboardInterrupt):  # the executor could not run (no cluster to join, ...)
                result["error"] = f"{type(exc).__name__}: {exc}"
            save("interrupted" if isinstance(exc, KeyboardInterrupt) else "failed")
            raise
        finally:
            bar.close()
        mark_pareto(result["points"])
        save("finished")
        write_sweep_report(result, out)
    return result

"""A content-addressed cache of finished stages: one folder per (stage, fingerprint), published atomically.

A stage works in a private temporary folder beside its entry (`.tmp-<fingerprint>-<host>-<pid>-<random>`)
and, when it succeeded, writes `result.json` and renames the folder to `<stage>/<fingerprint>`. A rename
onto an existing entry fails, so when two sweeps (two users on one cluster, or one user twice) compute
the same stage at once, the first to finish publishes and the other discards its copy: an entry is
never half-written and never overwritten, and no lock is needed. A failed stage's folder is kept as
`<fingerprint>.failed-<host>-<pid>` with its log (`stage.log`) and the tools' own logs, and is not a
cache entry: the next sweep runs the stage again.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

from fluorogate.errors import UserError

RESULT = "result.json"
LOG = "stage.log"


class StageFailed(Exception):
    """A stage raised: `reason` is one line for sweep.json, `log` the file that says more."""

    def __init__(self, reason: str, log: Path):
        super().__init__(reason)
        self.reason, self.log = reason, log


@contextlib.contextmanager
def captured_output(log: Path) -> Iterator[None]:
    """Send this process's Python-level stdout, stderr (tqdm bars included) and logging into `log`."""
    with open(log, "a", buffering=1) as fh:
        handler = logging.StreamHandler(fh)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(fh), contextlib.redirect_stderr(fh):
                yield
        finally:
            root.removeHandler(handler)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


class StageCache:
    """The cache under `root`: `root/<stage>/<fingerprint>/result.json` plus the stage's files."""

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()

    def entry(self, stage: str, fp: str) -> Path:
        return self.root / stage / fp

    def load(self, stage: str, fp: str) -> dict | None:
        """The stage's recorded result, or None when it has not finished under this fingerprint."""
        path = self.entry(stage, fp) / RESULT
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None

    def compute(self, stage: str, fp: str, work: Callable[[Path], dict]) -> dict:
        """Run `work(folder)` in a private folder and publish it as the entry; return its result.

        `StageFailed` when `work` raised an Exception (its traceback is in the kept folder's log). On
        KeyboardInterrupt (Ctrl-C) the private folder is removed and the interrupt goes on.
        """
        parent = self.root / stage
        parent.mkdir(parents=True, exist_ok=True)
        host, pid = socket.gethostname(), os.getpid()
        tmp = parent / f".tmp-{fp}-{host}-{pid}-{secrets.token_hex(3)}"
        tmp.mkdir()
        log = tmp / LOG
        try:
            t0 = time.perf_counter()
            with captured_output(log):
                try:
                    result = work(tmp)
                except Exception as exc:
                    traceback.print_exc()  # into the log: a real bug keeps its traceback
                    reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
                    raise StageFailed(reason, log) from exc
            result = {**result, "seconds": round(time.perf_counter() - t0, 1)}
            (tmp / RESULT).write_text(json.dumps(result, indent=1))
        except StageFailed as failed:
            kept = parent / f"{fp}.failed-{host}-{pid}"
            shutil.rmtree(kept, ignore_errors=True)
            os.rename(tmp, kept)
            raise StageFailed(failed.reason, kept / LOG) from failed.__cause__
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            os.rename(tmp, self.entry(stage, fp))
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another sweep published the same stage first: it stands
            return self.load(stage, fp)
        return result

    def remove_stale(self) -> int:
        """Delete private folders left on this host by processes that no longer run (a killed worker)."""
        host, removed = socket.gethostname(), 0
        for tmp in self.root.glob("*/.tmp-*"):
            _, _, rest = tmp.name.removeprefix(".tmp-").partition(
                "-"
            )  # fingerprints have no dashes, hosts may
            fields = rest.rsplit("-", 2)  # host, pid, random
            if (
                len(fields) == 3
                and fields[0] == host
                and fields[1].isdigit()
                and not _pid_alive(int(fields[1]))
            ):
                shutil.rmtree(tmp, ignore_errors=True)
                removed += 1
        return removed

"""Writing results without surprises: never overwrite without `force`, never leave a half-written file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from fluorogate.errors import UserError


def check_writable(path: str | os.PathLike, force: bool) -> Path:
    """Refuse to clobber an existing output unless the user said `--force`; create parent folders."""
    path = Path(path)
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it into place only if the block succeeds.

    The temporary file keeps the target's suffixes so that writers which choose a format from the
    file name (tifffile's `.ome.tif`, matplotlib's `.png`) behave as for the real name.
    """
    target = check_writable(path, force)
    suffix = "".join(target.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions a plain open() would (0666 & ~umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, writer: Callable[[Path], None], force: bool = False) -> Path:
    """Call `writer(tmp_path)` and move the result to `path` atomically; return `path`."""
    with atomic_path(path, force) as tmp:
        writer(tmp)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, force: bool = False) -> Path:
    return write_atomic(path, lambda p: p.write_text(text), force)

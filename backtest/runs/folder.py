"""Run folders: claimed by one run at a time, every file written whole or not at all, completeness marked last.

A run claims its folder atomically (``os.mkdir`` of a new folder) and holds an exclusive lock on
``<run>/.lock`` (``flock``, released by the kernel when the process ends, so a killed run leaves no
live lock) for as long as it runs; ``--force`` and ``--resume`` take the same lock, so no two runs ever
write one folder. ``.incomplete`` is written when training starts and removed when the run is whole;
``manifest.json`` (with ``"complete": true`` and each artifact's size, rows and SHA-256) is written
last. A folder with ``.incomplete``, without a complete manifest, or whose files differ from what the
manifest records, is never taken for a finished run.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from backtest.core.errors import ConfigError, RunDirError, WfbtError
from backtest.core.files import UMASK, atomic_write_json
from backtest.core.manifest import current_manifest

INCOMPLETE = ".incomplete"


LOCK = ".lock"


RUN_FILES = ("manifest.json", INCOMPLETE, "partial", "config.toml", "predictions.csv", "metrics.json")


def read_manifest(run_dir: Path) -> dict[str, Any] | None:
    """manifest.json as a dict in today's shape (``core.manifest``), or None when it is missing or not a JSON
    object."""
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: bad JSON or bad UTF-8
        return None
    return current_manifest(manifest) if isinstance(manifest, dict) else None


def is_complete(run_dir: Path) -> bool:
    if (run_dir / INCOMPLETE).exists():
        return False
    manifest = read_manifest(run_dir)
    return manifest is not None and manifest.get("complete") is True


def start_run_dir(run_dir: Path) -> None:
    """Mark the folder unfinished: from here on it is not taken for a finished run (training starts)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").unlink(missing_ok=True)
    (run_dir / INCOMPLETE).write_text("this run has not finished; its files may be partial\n")


def finish_run_dir(run_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_json(run_dir / "manifest.json", {**manifest, "complete": True})
    (run_dir / INCOMPLETE).unlink(missing_ok=True)


def _live_holder(run_dir: Path) -> int | None:
    """The pid recorded in ``.lock`` if that process is alive (for messages only: nothing is locked)."""
    try:
        pid = int((run_dir / LOCK).read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def require_complete(run_dir: str | Path) -> Path:
    """The path of a finished run folder, or a RunDirError saying why it is not one."""
    path = Path(run_dir)
    if not path.exists():
        raise RunDirError(f"run folder {str(path)!r} does not exist. List runs with `ls runs/`.")
    if not path.is_dir():
        raise RunDirError(f"{str(path)!r} is a file, not a run folder. Pass the folder `wfbt run` printed, "
                          "e.g. runs/default.")
    if is_complete(path):
        return path
    if (path / "sweep.json").is_file():
        cells = sorted(p.name for p in path.iterdir() if p.is_dir())[:2] or ["CELL", "CELL"]
        raise RunDirError(f"{str(path)!r} is a sweep folder, not one run: `wfbt show {path}` prints its leaderboard; "
                          f"compare its cells as runs, e.g. wfbt compare {path / cells[0]} {path / cells[-1]}.")
    if not any((path / name).exists() for name in RUN_FILES):
        raise RunDirError(f"{str(path)!r} is not a wfbt run folder: it has none of a run's files (manifest.json, "
                          "config.toml, ...). Pass a folder that `wfbt run` wrote, e.g. runs/default (`ls runs/` "
                          "lists them).")
    if (pid := _live_holder(path)) is not None:
        raise RunDirError(f"run folder {str(path)!r} is still being written by a running wfbt (process {pid}). "
                          "Wait for it to finish.")
    raise RunDirError(
        f"run folder {str(path)!r} is incomplete: the run was interrupted or failed before it finished. "
        f"Finish it with `{resume_command(path)}`, or start it again."
    )


RESUME_CONFIG = "config.toml"  # in <run>/partial/: the config the checkpoint pinned, written when training starts


PINS = {"state.json", RESUME_CONFIG}  # what partial/ holds before any group or chunk is saved


def resume_command(run_dir: Path) -> str:
    """The command that finishes the unfinished run in ``run_dir`` (from the folder the run was started in).

    It names the folder exactly (``--out`` its parent, ``run.name`` its name, which may be ``default-2``),
    and the config the checkpoint pinned when there is one, so nothing else decides where it resumes.
    """
    config = run_dir / "partial" / RESUME_CONFIG
    shown = shlex.quote(str(config)) if config.is_file() else "CONFIG"
    return (f"wfbt run {shown} --out {shlex.quote(str(run_dir.parent))} --set run.name={shlex.quote(run_dir.name)} "
            "--resume")


def _out_dir_error(out: Path, exc: OSError) -> RunDirError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileExistsError | NotADirectoryError) or (out.exists() and not out.is_dir()):
        reason = "it is a file, not a folder"
    return RunDirError(f"cannot create a run folder in --out / run.out_dir {str(out)!r}: {reason}. Pass --out a "
                       "folder you can write to (it is created if missing).")


def _try_lock(folder: Path) -> int | None:
    """An fd holding the exclusive lock on ``folder/.lock``, or None when a live process holds it.

    The previous holder unlinks the lock file when it lets go; a lock taken on an unlinked file is
    worthless, so the fd's file must still be the one at the path.
    """
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~UMASK)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _holder(folder: Path) -> str:
    try:
        pid = (folder / LOCK).read_text().strip()
    except OSError:
        pid = ""
    return f"process {pid}" if pid.isdigit() else "another process"


def _abandoned(folder: Path) -> bool:
    """A folder a run claimed and left before writing anything (killed before training)."""
    try:
        return folder.is_dir() and set(os.listdir(folder)) <= {LOCK}
    except OSError:
        return False


class RunFolder:
    """A run folder this process holds; a context manager that lets it go on exit.

    On an exception before training started (no ``.incomplete`` yet), or on a refusal (a ``WfbtError``: a check
    the user can fix) before any work was saved, a folder this run created is removed, so the fixed rerun gets
    the same name; a folder it did not create, or one holding a saved group or chunk, is left as it was.
    """

    def __init__(self, path: Path, fd: int, created: bool, resuming: bool, made_out: Path | None = None) -> None:
        self.path, self._fd, self.created, self.resuming = path, fd, created, resuming
        self.made_out = made_out  # the highest folder of --out this run created, removed with the run if empty

    def started(self) -> bool:
        """Whether training started (the folder has been marked unfinished)."""
        return (self.path / INCOMPLETE).exists()

    def saved_work(self) -> bool:
        """Whether ``partial/`` holds anything beyond the checkpoint's pins (a saved group or chunk, or its proof)."""
        try:
            return any(p.name not in PINS for p in (self.path / "partial").iterdir())
        except OSError:  # no partial/ folder: nothing saved
            return False

    def _disposable(self, kind: type[BaseException]) -> bool:
        refused = issubclass(kind, WfbtError) and not self.saved_work()
        return self.created and (not self.started() or refused)

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is not None and self._disposable(kind):
                shutil.rmtree(self.path, ignore_errors=True)
                _remove_empty(self.path.absolute().parent, self.made_out)
            else:
                (self.path / LOCK).unlink(missing_ok=True)  # unlinked while held: see _try_lock
        finally:
            os.close(self._fd)


def _remove_empty(folder: Path, top: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``top`` while they are empty (the --out folders a failed run made)."""
    if top is None:
        return
    while True:
        try:
            folder.rmdir()
        except OSError:  # not empty (another run's), or gone
            return
        if folder == top or top not in folder.parents:
            return
        folder = folder.parent


def _first_missing(folder: Path) -> Path | None:
    """The highest ancestor of ``folder`` (or itself) that does not exist yet; None if it exists."""
    missing = None
    for candidate in [folder, *folder.parents]:
        if candidate.exists():
            break
        missing = candidate
    return missing


def _finished_already(base: Path) -> RunDirError:
    return RunDirError(f"run {str(base)!r} has already finished: there is nothing to resume. See it with `wfbt show "
                       f"{base}`, or run it again from the start with --force instead of --resume.")


def _claim_existing(base: Path, resume: bool) -> RunFolder | None:
    """``base`` locked for --force / --resume; None when it vanished; (resume) an error if it finished meanwhile."""
    try:
        fd = _try_lock(base)
    except FileNotFoundError:
        return None
    if fd is None:
        raise RunDirError(f"run folder {str(base)!r} is in use by a running wfbt ({_holder(base)}). Wait for it to "
                          "finish or stop it, or give this run another run.name.")
    if resume and is_complete(base):  # finished while this run waited for it
        RunFolder(base, fd, False, False).__exit__(None, None, None)
        raise _finished_already(base)
    return RunFolder(base, fd, created=False, resuming=resume)


def claim_run_dir(out_dir: str | Path, name: str, force: bool = False, resume: bool = False) -> RunFolder:
    """Claim the folder this run writes to: ``out_dir/name``, or ``name-2``, ``-3``... if that one is taken.

    ``force`` reuses ``out_dir/name`` (its old files stay until training starts and are replaced as the
    new ones land); ``resume`` reuses it only if it is an unfinished run. Either refuses a folder a
    running wfbt holds. A new folder is claimed by creating it, which only one process can do.
    """
    if force and resume:
        raise ConfigError("--force and --resume contradict each other: --resume continues an interrupted run, "
                          "--force starts this run's folder again from scratch. Pick one.")
    out = Path(out_dir)
    made_out = _first_missing(out.absolute())
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _out_dir_error(out, exc) from None
    base = out / name
    if resume and base.is_dir() and is_complete(base):
        raise _finished_already(base)
    if (force or resume) and base.is_dir():
        claimed = _claim_existing(base, resume)
        if claimed is not None:
            return claimed
    k = 1
    while True:
        path = base if k == 1 else out / f"{name}-{k}"
        k += 1
        try:
            os.mkdir(path)
        except FileExistsError:
            if not _abandoned(path):
                continue
        except OSError as exc:
            raise _out_dir_error(out, exc) from None
        try:
            fd = _try_lock(path)
        except FileNotFoundError:  # removed again by the run that abandoned it: try the next name
            continue
        except OSError as exc:
            raise _out_dir_error(out, exc) from None
        if fd is not None:  # None: a --force/--resume run locked it first; it is theirs
            return RunFolder(path, fd, created=True, resuming=False, made_out=made_out)

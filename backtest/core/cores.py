"""How many CPU cores this process may use, and the thread settings that follow from it.

``os.cpu_count()`` counts the machine's cores, not the ones a process may run on: a CPU affinity mask
(``taskset``, a batch scheduler) or a container's CPU quota (cgroup v2 ``cpu.max``, v1
``cpu.cfs_quota_us``) can allow fewer. Torch and the OpenMP loops of the fused CPU kernels
(``forecasters/kernels.py``, which take torch's thread count) each start one thread per core they
think they have; more busy threads than cores makes every thread wait for the others (see
docs/performance.md), so wfbt sets torch's thread count from the cores it may actually use.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")

# OpenMP's default makes an idle worker spin for a while before it sleeps. Alone on its cores that is the
# fastest choice (measured on the default run's lstm and gru groups, 2 cores: 3.1 s training with the default,
# 7.3 s with every wait passive). But two processes whose spinning workers fill the same cores keep stealing
# each other's time slices: two runs at once took 189 s each with the default, 6 s each with passive waits.
# So waits are made passive only when another wfbt run or sweep is already going on this machine (or when
# the user says so); libgomp reads the setting when it loads, so it is decided before torch is imported.
OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
PROC = Path("/proc")
COMMANDS = ("run", "sweep")


def _is_wfbt_job(argv: list[str]) -> bool:
    """True for `wfbt run|sweep ...` and `python -m backtest run|sweep ...` command lines."""
    for i, arg in enumerate(argv[:-1]):
        if (Path(arg).name == "wfbt" or (arg == "backtest" and i > 0 and argv[i - 1] == "-m")) \
                and argv[i + 1] in COMMANDS:
            return True
    return False


def other_wfbt_jobs(proc: Path = PROC) -> int:
    """How many other processes on this machine are wfbt runs or sweeps (0 where /proc cannot be read)."""
    own, count = os.getpid(), 0
    try:
        entries = [p for p in proc.iterdir() if p.name.isdigit() and int(p.name) != own]
    except OSError:
        return 0
    for entry in entries:
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        count += _is_wfbt_job(argv)
    return count


def quiet_openmp_waits(environ: dict[str, str] | None = None, proc: Path = PROC) -> None:
    """Make idle OpenMP workers sleep instead of spinning when another wfbt job shares the machine, unless
    the user chose a policy (OMP_WAIT_POLICY) themselves."""
    env = os.environ if environ is None else environ
    if "OMP_WAIT_POLICY" in env or env.get("WFBT_SWEEP_WORKER") == "1" or other_wfbt_jobs(proc) == 0:
        return  # a sweep's workers share the cores by its thread budget, not by sleeping
    for key, value in OPENMP_ENV.items():
        env.setdefault(key, value)


def affinity_cores() -> int:
    """The cores this process may be scheduled on (its CPU affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _quota(limit: str, period: str) -> float | None:
    """Cores allowed by a quota/period pair, or None when there is no limit."""
    if limit in ("max", "-1") or not limit:
        return None
    try:
        q, p = int(limit), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _own_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """This process's cgroup path in the v2 hierarchy and in v1's cpu controller."""
    v2 = v1 = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[0] == "0" and parts[1] == "":
            v2 = parts[2]
        elif "cpu" in parts[1].split(","):
            v1 = parts[2]
    return v2, v1


def _walk_up(base: Path, own: str) -> list[Path]:
    """``base/own`` and every parent up to ``base``: a limit anywhere above applies too.

    Inside a container ``own`` names a path of the host's hierarchy that is not mounted; then only
    ``base`` (the container's own cgroup, mounted as the root) is there to read.
    """
    folders, path = [], base / own.lstrip("/")
    while True:
        if path.is_dir():
            folders.append(path)
        if path == base or base not in path.parents:
            break
        path = path.parent
    return folders or [base]


def cgroup_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in cores (e.g. 1.5), or None when it has none."""
    v2, v1 = _own_paths(proc_cgroup)
    limits: list[float] = []
    if v2 is not None:
        for folder in _walk_up(root, v2):
            try:
                limit, period = (folder / "cpu.max").read_text().split()[:2]
            except (OSError, ValueError):
                continue
            if (cores := _quota(limit, period)) is not None:
                limits.append(cores)
    if v1 is not None:
        for name in ("cpu,cpuacct", "cpu", "cpuacct,cpu"):
            if (root / name).is_dir():
                for folder in _walk_up(root / name, v1):
                    try:
                        cores = _quota((folder / "cpu.cfs_quota_us").read_text().strip(),
                                       (folder / "cpu.cfs_period_us").read_text().strip())
                    except OSError:
                        continue
                    if cores is not None:
                        limits.append(cores)
                break
    return min(limits) if limits else None


def available_cores() -> int:
    """Cores this process may use: its affinity mask, capped by its cgroup's CPU quota (rounded up)."""
    cores = affinity_cores()
    quota = cgroup_cores()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def configure_threads(requested: int | None = None) -> int:
    """Set torch's intra-op thread count (which the fused CPU kernels follow) and return it.

    ``requested`` is ``run.threads`` / ``--threads``; None means every core this process may use.
    """
    import torch

    threads = requested if requested is not None else available_cores()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads

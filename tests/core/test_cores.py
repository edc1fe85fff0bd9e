"""Cores this process may use (affinity, cgroup quotas) and the thread settings wfbt derives from them."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from backtest.core import cores as resources
from tests.conftest import TINY, synthetic_prices, write_yahoo_csv


def cgroup_tree(tmp_path, proc_lines, files):
    """A fake /proc/self/cgroup and /sys/fs/cgroup with ``files`` (relative path -> text)."""
    proc = tmp_path / "proc_cgroup"
    proc.write_text("\n".join(proc_lines) + "\n")
    root = tmp_path / "cgroup"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    root.mkdir(exist_ok=True)
    return root, proc


@pytest.mark.parametrize("files, cores", [
    ({"cpu.max": "max 100000\n"}, None),  # no limit
    ({"cpu.max": "150000 100000\n"}, 1.5),  # container's own cgroup mounted as the root
    ({"user.slice/job/cpu.max": "200000 100000\n", "user.slice/cpu.max": "max 100000\n"}, 2.0),
    ({"user.slice/job/cpu.max": "max 100000\n", "user.slice/cpu.max": "50000 100000\n"}, 0.5),  # a parent's limit
])
def test_cgroup_v2_quota(tmp_path, files, cores):
    root, proc = cgroup_tree(tmp_path, ["0::/user.slice/job"], files)
    assert resources.cgroup_cores(root, proc) == cores


@pytest.mark.parametrize("quota, cores", [("-1", None), ("300000", 3.0), ("50000", 0.5)])
def test_cgroup_v1_cfs_quota(tmp_path, quota, cores):
    root, proc = cgroup_tree(tmp_path, ["12:cpu,cpuacct:/docker/abc", "11:memory:/docker/abc"],
                             {"cpu,cpuacct/cpu.cfs_quota_us": quota, "cpu,cpuacct/cpu.cfs_period_us": "100000"})
    assert resources.cgroup_cores(root, proc) == cores


def test_no_cgroup_files_means_no_limit(tmp_path):
    assert resources.cgroup_cores(tmp_path / "nothing", tmp_path / "no_proc_file") is None


@pytest.mark.parametrize("affinity, quota, expected", [(8, None, 8), (8, 1.5, 2), (2, 4.0, 2), (4, 0.2, 1)])
def test_available_cores_is_affinity_capped_by_the_quota_rounded_up(monkeypatch, affinity, quota, expected):
    monkeypatch.setattr(resources, "affinity_cores", lambda: affinity)
    monkeypatch.setattr(resources, "cgroup_cores", lambda: quota)
    assert resources.available_cores() == expected


def fake_proc(tmp_path, *command_lines):
    for pid, argv in enumerate(command_lines, start=10**6):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "cmdline").write_bytes("\0".join(argv).encode() + b"\0")
    (tmp_path / "self").mkdir()
    return tmp_path


@pytest.mark.parametrize(("lines", "jobs"), [
    ([["/venv/bin/python3", "/venv/bin/wfbt", "run", "configs/x.toml"]], 1),
    ([["python", "-m", "backtest", "sweep", "s.toml"], ["/usr/bin/wfbt", "show", "runs/x"]], 1),
    ([["python", "-m", "pytest"], ["/venv/bin/wfbt", "plan"], ["vim", "wfbt", "run"]], 1),  # vim's argv too
    ([["bash"], ["python", "-c", "import backtest"]], 0),
])
def test_other_wfbt_jobs_are_counted_from_command_lines(tmp_path, lines, jobs):
    assert resources.other_wfbt_jobs(fake_proc(tmp_path, *lines)) == jobs


def test_openmp_waits_are_passive_only_beside_another_wfbt_job(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    alone, busy = fake_proc(tmp_path / "a"), fake_proc(tmp_path / "b", ["wfbt", "run"])
    env: dict[str, str] = {}
    resources.quiet_openmp_waits(env, alone)
    assert env == {}  # alone: OpenMP's default (spin, then sleep) is fastest
    resources.quiet_openmp_waits(env, busy)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    chosen = {"OMP_WAIT_POLICY": "ACTIVE"}
    resources.quiet_openmp_waits(chosen, busy)
    assert chosen == {"OMP_WAIT_POLICY": "ACTIVE"}
    worker = {"WFBT_SWEEP_WORKER": "1"}  # a sweep's worker beside its driver: the budget shares the cores
    resources.quiet_openmp_waits(worker, busy)
    assert worker == {"WFBT_SWEEP_WORKER": "1"}


def test_the_policy_is_set_before_torch_loads():
    code = ("import os, sys; sys.argv = ['x']; import backtest.cli.app, torch; "
            "print(os.environ.get('OMP_WAIT_POLICY'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "wfbt", "run"])
    try:  # a process whose command line reads like a wfbt run: this one must go passive
        busy = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    finally:
        sleeper.kill()
    assert busy.stdout.strip() == "PASSIVE", busy.stderr


def test_threads_option_sets_training_threads_and_resume_pins_them(tmp_path, monkeypatch):
    """--threads N trains with N threads (recorded in the manifest). The count changes float rounding
    in the last bits, so a resume must use the count the interrupted run used."""
    import backtest.report.console

    csv = write_yahoo_csv(synthetic_prices(420), tmp_path / "p.csv")

    def run(name, *extra):
        args = ["run", "--out", str(tmp_path / "runs"), "--set", "data.source='csv'", "--set",
                f"data.path={str(csv)!r}", "--set", f"run.name={name!r}", *extra]
        for item in TINY:
            args += ["--set", item]
        result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
        return result, " ".join(result.output.split())

    auto, _ = run("auto", "--quiet")
    assert auto.exit_code == 0
    assert json.loads((tmp_path / "runs" / "auto" / "manifest.json").read_text())["threads"] == \
        resources.available_cores()

    def broken(summary, console):
        raise RuntimeError("stop before finishing")

    monkeypatch.setattr(backtest.report.console, "render", broken)
    assert run("one", "--threads", "1")[0].exit_code == 1  # trained with 1 thread, then died
    monkeypatch.undo()
    refused, text = run("one", "--threads", "2", "--resume", "--quiet")
    assert refused.exit_code == 2 and "the run changed since it started (run.threads: 1 -> 2)" in text
    resumed, text = run("one", "--threads", "1", "--resume", "--quiet")
    assert resumed.exit_code == 0, text
    assert json.loads((tmp_path / "runs" / "one" / "manifest.json").read_text())["threads"] == 1


def test_threads_out_of_range_is_a_message(tmp_path):
    result = CliRunner().invoke(app, ["run", "--threads", "0", "--out", str(tmp_path)], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "run.threads must be between 1 and 1024, or left out to use every core this process may use. Got 0." \
        in " ".join(result.output.split())

"""Fused CPU kernels for the LSTM/GRU timestep (``cpu_kernels.c``): built on first use, loaded with ctypes.

The C file is compiled once per machine into wfbt's cache directory (``WFBT_KERNEL_CACHE`` to move it)
with the system C compiler (``$CC`` or ``cc``): ``-O3 -ffast-math -fopenmp``, plus ``-mavx2 -mfma`` when
the CPU has them; about a second. Where there is no compiler, or the build fails, or
``WFBT_CPU_KERNELS=0``, training falls back to the same computation as separate torch operations
(slower on a CPU, same results to float32 rounding) and says so once. CUDA tensors always take the
torch path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

_SOURCE = Path(__file__).with_name("cpu_kernels.c")
_lib: ctypes.CDLL | None = None
_tried = False


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _flag_sets() -> list[list[str]]:
    base = ["-O3", "-ffast-math", "-fopenmp", "-shared", "-fPIC", "-std=c99"]
    isa = ["-mavx2", "-mfma"] if platform.machine() in ("x86_64", "AMD64") and {"avx2", "fma"} <= _cpu_flags() else []
    # Without OpenMP (no libgomp to link) the rows run on one thread.
    return [base + isa, [f for f in base if f != "-fopenmp"] + isa]


def _cache_dir() -> Path:
    import platformdirs

    return Path(os.environ.get("WFBT_KERNEL_CACHE") or platformdirs.user_cache_dir("wfbt")) / "kernels"


def _build(compiler: str) -> Path:
    source = _SOURCE.read_bytes()
    errors = []
    for flags in _flag_sets():
        key = hashlib.sha256(source + " ".join([compiler, *flags, platform.machine()]).encode()).hexdigest()[:16]
        target = _cache_dir() / f"wfbt_cpu_{key}.so"
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / target.name
            cmd = [compiler, *flags, str(_SOURCE), "-o", str(out), "-lm"]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
            if proc.returncode == 0 and out.exists():
                os.replace(out, target)  # atomic: a half-written library is never found
                return target
            errors.append(proc.stderr.strip().splitlines()[-1:] or ["?"])
    raise RuntimeError(f"compiling {_SOURCE.name} failed: {errors[-1][0]}")


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None (no compiler, failed build, or WFBT_CPU_KERNELS=0)."""
    global _lib, _tried
    if _tried:
        return _lib
    _tried = True
    if os.environ.get("WFBT_CPU_KERNELS", "1") == "0":
        return None
    compiler = os.environ.get("CC") or "cc"
    try:
        if shutil.which(compiler) is None:
            raise RuntimeError(f"no C compiler {compiler!r} on PATH")
        lib = ctypes.CDLL(str(_build(compiler)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        warnings.warn(f"wfbt: fused CPU kernels unavailable ({exc}); training on the CPU uses plain torch "
                      "operations, which is slower. To speed it up, install a C compiler (e.g. gcc; $CC picks "
                      "another) and make sure WFBT_KERNEL_CACHE (default: the user cache folder) is writable; "
                      "WFBT_CPU_KERNELS=0 silences this.", RuntimeWarning, stacklevel=2)
        return None
    i64, cint, fp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    lib.wfbt_lstm_fwd.argtypes = [fp, fp, fp, fp, fp, fp, i64, i64, i64, cint]
    lib.wfbt_lstm_bwd.argtypes = [fp, fp, fp, fp, fp, fp, fp, fp, i64, i64, i64, cint]
    lib.wfbt_gru_fwd.argtypes = [fp, fp, fp, fp, fp, i64, i64, i64, cint]
    lib.wfbt_gru_bwd.argtypes = [fp, fp, fp, fp, fp, fp, fp, fp, i64, i64, cint]
    lib.wfbt_adam.argtypes = [fp, fp, fp, fp, fp, i64, i64, ctypes.c_float, cint]
    lib.wfbt_keep_masks.argtypes = [fp, fp, i64, i64, ctypes.c_uint32, ctypes.c_float, cint]
    for fn in (lib.wfbt_lstm_fwd, lib.wfbt_lstm_bwd, lib.wfbt_gru_fwd, lib.wfbt_gru_bwd, lib.wfbt_adam,
               lib.wfbt_keep_masks):
        fn.restype = None
    _lib = lib
    return lib


def use_for(t: torch.Tensor) -> ctypes.CDLL | None:
    """The kernels if they apply to tensors like ``t`` (CPU, float32) and are available."""
    if t.device.type != "cpu" or t.dtype != torch.float32:
        return None
    return library()


def ptr(t: torch.Tensor | None) -> int | None:
    """The address of ``t``'s first element (None: a NULL pointer); callers guarantee the layout."""
    return None if t is None else t.data_ptr()


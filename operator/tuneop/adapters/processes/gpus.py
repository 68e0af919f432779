"""This machine's GPUs, handed out to local trials so that no two share one.

``detect_gpus`` finds the devices a local run may use: those in
``CUDA_VISIBLE_DEVICES`` when it is set (the user already chose), else every
GPU ``nvidia-smi -L`` lists, else none. Both come from the environment given,
``PATH`` included, so a test puts a stand-in ``nvidia-smi`` first on ``PATH``.
``GpuPool`` lends each worker the devices its trial container's limits ask
for (``nvidia.com/gpu``) and takes them back when it ends; the worker gets
them as its ``CUDA_VISIBLE_DEVICES``. nvidia-smi numbers GPUs in PCI bus
order, CUDA by default fastest first: with numbers from nvidia-smi a worker
also gets ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, so the numbers mean the same GPUs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["DETECT_TIMEOUT_SECONDS", "GpuPool", "Gpus", "detect_gpus"]

DETECT_TIMEOUT_SECONDS = 10.0
_SMI_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)
_MAX_GPUS = 1024


@dataclass(frozen=True)
class Gpus:
    """The devices a local run may use, and where their numbers come from."""

    ids: tuple[str, ...] = ()
    source: str = "none"  # CUDA_VISIBLE_DEVICES, nvidia-smi or none

    @property
    def env(self) -> dict[str, str]:
        """What a worker's environment needs beside its devices for them to mean the same."""
        return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"} if self.source == "nvidia-smi" else {}


def _visible(text: str) -> tuple[str, ...]:
    # CUDA stops at the first entry that is not a device ("-1" hides every GPU).
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item or item.startswith("-"):
            break
        out.append(item)
    return tuple(out[:_MAX_GPUS])


def detect_gpus(environ: Mapping[str, str]) -> Gpus:
    """The GPUs of this machine a local run may hand out."""
    if "CUDA_VISIBLE_DEVICES" in environ:
        return Gpus(_visible(environ["CUDA_VISIBLE_DEVICES"]), "CUDA_VISIBLE_DEVICES")
    smi = shutil.which("nvidia-smi", path=environ.get("PATH"))
    if smi is None:
        return Gpus()
    try:
        done = subprocess.run(
            [smi, "-L"],
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=DETECT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return Gpus()
    if done.returncode != 0:
        return Gpus()
    text = done.stdout[: 1024 * 1024].decode("utf-8", "replace")
    ids = tuple(dict.fromkeys(_SMI_LINE.findall(text)))[:_MAX_GPUS]
    return Gpus(ids, "nvidia-smi" if ids else "none")


@dataclass
class GpuPool:
    """Devices lent to workers, each to one worker at a time."""

    gpus: Gpus = field(default_factory=Gpus)
    _lent: dict[str, str] = field(default_factory=dict)  # device -> worker

    def take(self, worker: str, count: int) -> dict[str, str]:
        """The environment giving ``worker`` ``count`` devices of its own (fewer if fewer
        are free: the run caps its parallelism so that they never are)."""
        if count <= 0:
            return {}
        free = [d for d in self.gpus.ids if d not in self._lent][:count]
        for d in free:
            self._lent[d] = worker
        return {"CUDA_VISIBLE_DEVICES": ",".join(free), **self.gpus.env}

    def give_back(self, worker: str) -> None:
        self._lent = {d: w for d, w in self._lent.items() if w != worker}

    def lent(self) -> Sequence[str]:
        return tuple(self._lent)

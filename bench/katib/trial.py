"""The side-by-side trial: sleep 2 s, print ``loss=`` of Branin at (x, y); under Katib, push it.

Run as a script by both systems' trial containers (the same argv): ``trial.py X Y``.
Branin over x in [-5, 10], y in [0, 15] has its minimum 0.397887 at three points. Under
Katib (the webhook gave the container ``KATIB_TRIAL_NAME``) the value is also reported to
Katib's DB manager the way the Push collector's SDK call ``report_metrics`` does (one
``ReportObservationLog`` gRPC call), but with the module's own generated stubs
(``pkg/apis/manager/v1beta1/python`` on ``PYTHONPATH``): importing the SDK package costs
about 4 s of CPU per trial on this machine (it imports the whole Kubernetes client), which
would measure the SDK's import rather than the controller. tuneop reads the printed line.
"""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import UTC, datetime

__all__ = ["branin", "main"]


def branin(x: float, y: float) -> float:
    """The Branin-Hoo function (a=1, b=5.1/(4 pi^2), c=5/pi, r=6, s=10, t=1/(8 pi))."""
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def push(trial: str, loss: float, address: str) -> None:
    """Katib's Push collector: one ReportObservationLog to the DB manager."""
    import api_pb2  # type: ignore[import-not-found]  # Katib's stubs, on PYTHONPATH
    import api_pb2_grpc  # type: ignore[import-not-found]
    import grpc  # type: ignore[import-not-found]  # in Katib's venv only

    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    log = api_pb2.ObservationLog(
        metric_logs=[
            api_pb2.MetricLog(time_stamp=stamp, metric=api_pb2.Metric(name="loss", value=str(loss)))
        ]
    )
    with grpc.insecure_channel(address) as channel:
        api_pb2_grpc.DBManagerStub(channel).ReportObservationLog(
            api_pb2.ReportObservationLogRequest(trial_name=trial, observation_log=log), timeout=30
        )


def main(argv: list[str]) -> int:
    x, y = float(argv[0]), float(argv[1])
    time.sleep(2)
    loss = branin(x, y)
    print(f"loss={loss:.6f}", flush=True)
    trial = os.environ.get("KATIB_TRIAL_NAME")
    if trial:
        push(trial, loss, os.environ.get("KATIB_DB_MANAGER_ADDRESS", "127.0.0.1:16789"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Report and export benchmark: how long ``tuneop report`` takes and how large the page is,
for sessions of 30, 1,000 and 5,000 trials of three parameters, and how long ``tuneop
export`` takes into SQLite for 30 and 300 trials.

The records are built in memory (a spread of values, one trial in ten failed); the report
is built and encoded (no file written), the export goes into a fresh SQLite storage in a
temporary folder. The export's cost is Optuna's RDB storage: a few ORM round trips and a
commit per trial and per user attribute. Target: a 1,000-trial report in under 10 s on
2 cores.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import header, save, stats, timed
from tuneop.cli.report import build_report
from tuneop.core.results.study import build_study, study_data

SIZES = (30, 1000, 5000)
EXPORT_SIZES = (30, 300)


def records(n: int) -> list[dict[str, Any]]:
    out = []
    for t in range(n):
        x, y, kind = t % 17, (t * 7) % 23 / 4, ["a", "b", "c"][t % 3]
        ok = t % 10 != 3
        value = (x - 8) ** 2 + (y - 2) ** 2 + (kind == "b") if ok else None
        out.append(
            {
                "session": "bench/report",
                "trial": t,
                "jobIndex": t,
                "params": {"x": x, "y": y, "kind": kind},
                "metrics": {"loss": value} if ok else {},
                "objective": {"metric": "loss", "direction": "minimize", "value": value},
                "outcome": "Succeeded" if ok else "Failed",
                "error": None if ok else "ValueError: bench",
                "durationSeconds": 0.1 + (t % 5) / 10,
            }
        )
    return out


def export_seconds(n: int) -> dict[str, float]:
    data = study_data(records(n))
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'export.db'}"
        return stats(timed(lambda: build_study(data, url, "bench"), 1))


def main() -> None:
    header("tuneop report and export")
    figures: dict[str, Any] = {"report": {}, "export_sqlite": {}}
    for n in SIZES:
        data = study_data(records(n))
        size = len(build_report(data).html.encode())
        report = stats(timed(lambda data=data: build_report(data), 3 if n < 5000 else 1))
        figures["report"][str(n)] = {**report, "bytes": size}
        print(f"{n:>5} trials: report {report['median']:.2f} s ({size / 2**20:.1f} MiB)")
    for n in EXPORT_SIZES:
        export = export_seconds(n)
        figures["export_sqlite"][str(n)] = export
        print(f"{n:>5} trials: export to SQLite {export['median']:.2f} s")
    save("report", figures)


if __name__ == "__main__":
    main()

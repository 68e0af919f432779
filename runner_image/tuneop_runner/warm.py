"""A warm worker: one process that runs worker Jobs one after another.

A local run (``tuneop run --local``) of a Python objective
(``runner.objective: module:function``) starts one such process per slot
instead of one ``tuneop-runner`` per Job, so a trial pays no interpreter
start and no import of the objective: ``python -m tuneop_runner.warm``.

It reads one JSON line per Job on stdin, ``{"nonce": ..., "env": {...}}``:
the Job's environment (``TUNEOP_TRIALS`` and the rest, as the Job's pod would
have it) and the nonce that frames this Job's trials, made by the parent and
never handed to the objective. It runs the Job exactly as ``tuneop-runner``
would (``cli.run_job``: the frames' announcement, each trial in its frame, the
same exit codes), with the Job's variables in ``os.environ``, then prints
``TUNEOP_JOB_DONE <nonce> <exit code>``, which the parent takes as the end of
that Job's log (``tuneop.adapters.processes.warm``). It exits at the end of stdin,
or when a Job was stopped by a signal. Objectives stay imported between Jobs:
a module's global state lives on from one trial to the next, as it does in an
Optuna study run in one process.
"""

from __future__ import annotations

import json
import os
import sys

from tuneop_runner.cli import Evaluator, run_job
from tuneop_runner.frames import header_line
from tuneop_runner.linestart import begin_line

__all__ = ["DONE_PREFIX", "main"]

DONE_PREFIX = "TUNEOP_JOB_DONE "
_STOPPED = (128 + 2, 128 + 15)  # interrupted, terminated


def main() -> int:
    base = dict(os.environ)
    loaded: dict[str, Evaluator] = {}
    for raw in sys.stdin:
        request = json.loads(raw)
        nonce, env = str(request["nonce"]), dict(request["env"])
        os.environ.clear()
        os.environ.update(base)
        os.environ.update({str(k): str(v) for k, v in env.items()})
        begin_line()  # the job before may have left a line unfinished
        print(header_line(nonce), flush=True)
        code = run_job(os.environ, nonce, loaded=loaded)
        begin_line()
        print(f"{DONE_PREFIX}{nonce} {code}", flush=True)
        if code in _STOPPED:
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Writes the TensorFlow event files the tests read, with TensorBoard's own writer.

Run it with TensorBoard installed (not a test dependency: these files are committed):

    python -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard==2.21.0
    /tmp/tb/bin/python tests/data/tfevents/make_tfevents.py

It writes, under this folder, ``run/train`` and ``run/test``: per step 1..5 the old-style
scalar (``Summary.Value.simple_value``, as ``tf.compat.v1.summary.scalar`` and
tensorboardX write it) ``loss`` in ``train``, and the TF2-style tensor scalar
(``Summary.Value.tensor``, a float32 ``TensorProto``, as ``tf.summary.scalar`` writes it)
``accuracy`` in ``test``, as ``float_val`` for odd steps and ``tensor_content`` for even
ones, and ``expected.json``: each file's scalars as (tag, step, value).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

HERE = Path(__file__).parent


def tensor(value: float, packed: bool) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT)
    if packed:
        proto.tensor_content = struct.pack("<f", value)
    else:
        proto.float_val.append(value)
    return proto


def main() -> None:
    shutil.rmtree(HERE / "run", ignore_errors=True)
    expected: dict[str, list[list[object]]] = {}
    for name in ("train", "test"):
        writer = EventFileWriter(str(HERE / "run" / name), filename_suffix=".tuneop")
        rows = []
        for step in range(1, 6):
            if name == "train":
                value = 1.0 / step
                v = summary_pb2.Summary.Value(tag="loss", simple_value=value)
            else:
                value = 0.5 + step / 20
                v = summary_pb2.Summary.Value(tag="accuracy", tensor=tensor(value, step % 2 == 0))
            writer.add_event(
                event_pb2.Event(
                    step=step, wall_time=1.0e9 + step, summary=summary_pb2.Summary(value=[v])
                )
            )
            rows.append([v.tag, step, struct.unpack("<f", struct.pack("<f", value))[0]])
        writer.close()
        (file,) = (HERE / "run" / name).iterdir()
        expected[f"run/{name}/{file.name}"] = rows
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()

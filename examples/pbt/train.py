"""A toy training run for population-based training: it continues from a checkpoint.

tuneop tells each trial two folders: TUNEOP_CHECKPOINT_DIR, where it saves its state,
and TUNEOP_PARENT_CHECKPOINT_DIR (from the second generation on), whose state it starts
from. The "model" is one number, its accuracy, which each epoch moves towards 1 at a
rate that is best for a learning rate near 0.01 and a momentum near 0.9.
"""

import json
import math
import os
import sys
from pathlib import Path

EPOCHS = 5


def rate(lr: float, momentum: float) -> float:
    return 0.3 * math.exp(-((math.log10(lr) + 2) ** 2)) * (1 - abs(momentum - 0.9))


def main() -> None:
    lr, momentum = float(sys.argv[1]), float(sys.argv[2])
    state = {"accuracy": 0.0, "epochs": 0}
    parent = os.environ.get("TUNEOP_PARENT_CHECKPOINT_DIR")
    if parent:
        state = json.loads((Path(parent) / "state.json").read_text())
    for _ in range(EPOCHS):
        state["accuracy"] += (1 - state["accuracy"]) * rate(lr, momentum)
        state["epochs"] += 1
    own = Path(os.environ["TUNEOP_CHECKPOINT_DIR"])
    own.mkdir(parents=True, exist_ok=True)
    (own / "state.json").write_text(json.dumps(state))
    print(f"epochs={state['epochs']}")
    print(f"accuracy={state['accuracy']}")


if __name__ == "__main__":
    main()

"""A training script that writes its metrics to a file and prints only chatter (Katib's
File collector's kind of script): ``train.py LR LOG_PATH``."""

import math
import sys
import time

lr, path = float(sys.argv[1]), sys.argv[2]
print(f"training with lr={lr}")  # not a metric: the session reads the file
loss = 1.0
with open(path, "w") as log:
    for epoch in range(1, 6):
        loss *= 1 - min(lr, 0.5) * math.exp(-abs(math.log10(lr) + 1.5))
        log.write(f"epoch {epoch}: loss={loss:.6f}\n")
        log.flush()
        time.sleep(0.05)

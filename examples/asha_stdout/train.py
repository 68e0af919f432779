"""A training script that prints its loss once an epoch and knows nothing of tuneop
(Katib's StdOut kind of script): ``train.py LR``. A learning rate far from 0.01 ends
at a higher loss, and shows it from the first epochs."""

import math
import sys
import time

lr = float(sys.argv[1])
floor = abs(math.log10(lr) + 2)  # 0 at lr=0.01
for epoch in range(1, 13):
    print(f"epoch {epoch}: loss={floor + 1 / epoch:.6f}", flush=True)
    time.sleep(0.5)

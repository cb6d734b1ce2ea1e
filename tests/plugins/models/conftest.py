"""Model tests run many tiny torch steps; one intra-op thread avoids OpenMP spin-waiting when the
CI machine's cores are shared (10x faster here than 2 contended threads)."""

import torch

torch.set_num_threads(1)

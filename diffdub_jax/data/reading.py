"""Where and how the configs read their datasets, with no data library imported: configs/*.py
load on any machine (a benchmark on an accelerator host without TFDS or grain, say)."""

import os

DEFAULT_DATA_DIR = os.path.join("data", "tfds")

# The `data` fields every config shares (configs/*.py): where the TFDS datasets live, the
# shuffling seed, grain's read threads and worker processes, and how many clips stay in memory
# once read (0: read every visit).
READ_DEFAULTS = {"data_dir": DEFAULT_DATA_DIR, "seed": 0, "read_threads": 2, "worker_processes": 0,
                 "cache_clips": 0}

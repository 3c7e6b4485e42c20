"""Beyond one machine: `rtstyle batch` transcodes many video files, and long ones in keyframe-cut segments, as tasks
on a Ray cluster (an embedded local one by default).

jobs.py: inputs → output files, temporary names, publishing without overwriting; work.py: what a worker runs (no Ray
in it, so it runs and tests without a cluster); runner.py: the Ray side (tasks, retries, progress); command.py: the
CLI command.
"""

"""`make bench`: throughput and latency of the pipeline, each next to a raw limit measured
in the same run (DEVELOPERS.md: machines are shared and noisy, so ratios, not absolutes)."""

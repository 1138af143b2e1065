"""`make bench`: throughput, latency and efficiency figures, always as ratios measured in one run."""

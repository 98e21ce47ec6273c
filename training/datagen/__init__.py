"""Paired datasets from scenes: sharded, resumable generation (generate), multi-view sets (multiview), throughput (bench)."""

"""Train, evaluate and benchmark CG2Real (paired generator, unpaired albedo stage)."""

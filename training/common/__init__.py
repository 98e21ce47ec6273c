"""Shared by every op's trainer and evaluator: the training loop, losses, run folders and dataset samples, discriminators, model cards."""

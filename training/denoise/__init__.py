"""Train, evaluate and benchmark the learned denoiser."""

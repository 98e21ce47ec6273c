"""Dataset generation and training for the learned ops (procedural scenes, paired renders,
trainers). Builds on ``neural_ops`` pass sets and the add-on's export; see the README."""

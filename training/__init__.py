"""Dataset generation and training for the learned ops (procedural scenes, paired renders,
trainers). Builds on ``neural_ops`` pass sets and the add-on's export; see the README.

Layout: ``common/`` (the loop, losses, run folders, model-card skeleton, eval reports: no op),
``scenes/`` and ``datagen/`` (datasets, bpy), and one folder per op (``data.py``, ``train.py``,
``eval.py``, ``bench.py``, ``card.py``).
"""

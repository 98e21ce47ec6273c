"""Shared pieces of the learned ops: torch building blocks, tiled inference, ONNX Runtime,
shipped weights. Each op's own network lives in its folder (``<op>/network.py``)."""

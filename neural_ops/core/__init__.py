"""What every op shares: the pass-set data contract and its EXR I/O, cameras, the lighting
schema, metrics, images people look at, the op registry and the OIDN wrapper. numpy only."""

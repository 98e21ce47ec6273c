"""Neural Photoreal (CG2Real) in EEVEE renders, through a helper scene (:mod:`.helper_scene`).

The helper engine saves the user scene's finished EEVEE render (with its passes) to a multilayer
EXR, runs the same ``cg2real`` op as the CLI on those passes, and returns the translated image;
the ``Neural Photoreal`` node mixes it over the raster image. Each frame costs one EXR round trip
(a few ms) plus the network.
"""

from __future__ import annotations

import time

import numpy as np

from . import helper_scene
from .core import nops
from .helper_scene import last_input  # noqa: F401  (tests and debugging read it here)

ENGINE_ID = "NEURAL_PHOTOREAL"
LABEL = "Neural Photoreal"
#: Passes the op needs, as view-layer switches.
LAYER_PASSES = ("use_pass_diffuse_color", "use_pass_glossy_color", "use_pass_normal", "use_pass_z")


def translate(src, helper, engine=None) -> np.ndarray:
    """Read ``src``'s current render result, run the cg2real op, return (H, W, 4)."""
    passes = nops.read_exr(helper_scene.save_source_result(src, helper))
    settings = src.neural_render.photoreal
    if engine is not None:
        engine.update_stats("", LABEL)
    spec = nops.get_op("cg2real", "neural")

    def progress(done, total):
        if engine is not None:
            engine.update_progress(done / max(1, total))
            return engine.test_break()
        return False

    t = time.perf_counter()
    rgb = spec(passes, progress=progress, **settings.to_params())
    print(f"neural-render: {LABEL} {passes.shape[1]}x{passes.shape[0]} in {time.perf_counter() - t:.2f} s")
    alpha = passes.alpha if passes.alpha is not None else np.ones((*rgb.shape[:2], 1), np.float32)
    return np.concatenate([rgb, alpha], axis=2)


FEATURE = helper_scene.add_feature(helper_scene.HelperFeature(
    label=LABEL, engine_id=ENGINE_ID, node_idname="NeuralPhotorealNode", input_name="Photoreal",
    settings=lambda scene: scene.neural_render.photoreal, process=translate, layer_passes=LAYER_PASSES))
helper_name = FEATURE.helper_name
enable = FEATURE.enable
disable = FEATURE.disable

"""Where each op's settings hang: ``scene.neural_render.<op>`` and ``camera.neural_render``.

Each op's module defines its own PropertyGroup; this shared module only gathers them under one
scene property (the property names are what saved .blend files hold: keep them).
"""

from __future__ import annotations

import bpy
from bpy.props import PointerProperty

from .cg2real import NEURAL_PG_photoreal
from .dataset import NEURAL_PG_dataset
from .denoise import NEURAL_PG_denoise
from .export import NEURAL_PG_camera, NEURAL_PG_export
from .novel_view import NEURAL_PG_novel_view
from .relight import NEURAL_PG_relight


class NEURAL_PG_scene(bpy.types.PropertyGroup):
    denoise: PointerProperty(type=NEURAL_PG_denoise)
    photoreal: PointerProperty(type=NEURAL_PG_photoreal)
    novel_view: PointerProperty(type=NEURAL_PG_novel_view)
    relight: PointerProperty(type=NEURAL_PG_relight)
    export: PointerProperty(type=NEURAL_PG_export)
    dataset: PointerProperty(type=NEURAL_PG_dataset)


classes = (NEURAL_PG_scene,)
_register, _unregister = bpy.utils.register_classes_factory(classes)


def register():
    _register()
    bpy.types.Scene.neural_render = PointerProperty(type=NEURAL_PG_scene)
    bpy.types.Camera.neural_render = PointerProperty(type=NEURAL_PG_camera)


def unregister():
    del bpy.types.Camera.neural_render
    del bpy.types.Scene.neural_render
    _unregister()

"""Compositor nodes of the "Neural" category (pattern B).

Python cannot run inside Blender's compositor, so each node is a group of built-in nodes: the
op itself runs in the render hook (:mod:`.render_pass`), which reads the settings stored on
the node, and the group blends its result with the input image by ``Mix``.
"""

from __future__ import annotations

import bpy
from bpy.props import PointerProperty

from .props import NEURAL_PG_denoise, NEURAL_PG_relight

DENOISE_GROUP = ".Neural Denoise"
PHOTOREAL_GROUP = ".Neural Photoreal"
NOVEL_VIEW_GROUP = ".Neural Novel View"
RELIGHT_GROUP = ".Neural Relight"


def _denoise_group() -> bpy.types.NodeTree:
    """The inner tree shared by all Neural Denoise nodes: mix(Image, Denoised, Mix)."""
    return _mix_group(DENOISE_GROUP, "Denoised")


def _mix_group(name: str, second: str) -> bpy.types.NodeTree:
    """A group of built-in nodes: mix(Image, <second>, Mix)."""
    tree = bpy.data.node_groups.get(name)
    if tree is not None:
        return tree
    tree = bpy.data.node_groups.new(name, "CompositorNodeTree")
    iface = tree.interface
    iface.new_socket(name="Image", in_out="INPUT", socket_type="NodeSocketColor")
    iface.new_socket(name=second, in_out="INPUT", socket_type="NodeSocketColor")
    fac = iface.new_socket(name="Mix", in_out="INPUT", socket_type="NodeSocketFloat")
    fac.default_value, fac.min_value, fac.max_value = 1.0, 0.0, 1.0
    iface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
    gin = tree.nodes.new("NodeGroupInput")
    gout = tree.nodes.new("NodeGroupOutput")
    mix = tree.nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    # ShaderNodeMix RGBA sockets: inputs 0 factor, 6 A, 7 B; output 2 result.
    tree.links.new(gin.outputs["Mix"], mix.inputs[0])
    tree.links.new(gin.outputs[0], mix.inputs[6])
    tree.links.new(gin.outputs[second], mix.inputs[7])
    tree.links.new(mix.outputs[2], gout.inputs[0])
    return tree


class NeuralDenoiseNode(bpy.types.CompositorNodeCustomGroup):
    """Neural Denoise: wire Render Layers 'Image' and 'Neural Denoised' in; settings choose the method."""

    bl_idname = "NeuralDenoiseNode"
    bl_label = "Neural Denoise"
    bl_icon = "SHADERFX"

    settings: PointerProperty(type=NEURAL_PG_denoise)

    def init(self, context):
        self.node_tree = _denoise_group()
        self.settings.enabled = True
        refresh_render_passes(self.id_data)

    def free(self):
        refresh_render_passes(self.id_data)

    def draw_buttons(self, context, layout):
        self.settings.draw(layout, method_text="")


class _HelperFeatureNode:
    """A node fed by a helper scene (:mod:`.helper_scene`): 'Image' is the scene's own render,
    ``second`` the helper's Render Layers image; its settings live on the scene (``setting``),
    and enabling them wires both inputs."""

    group = ""
    second = ""
    setting = ""

    def init(self, context):
        self.node_tree = _mix_group(self.group, self.second)

    def draw_buttons(self, context, layout):
        settings = getattr(context.scene.neural_render, self.setting)
        layout.prop(settings, "enabled")
        settings.draw(layout)


class NeuralPhotorealNode(_HelperFeatureNode, bpy.types.CompositorNodeCustomGroup):
    """Neural Photoreal: the raster render and the CG2Real result of the helper scene."""

    bl_idname = "NeuralPhotorealNode"
    bl_label = "Neural Photoreal"
    bl_icon = "SHADERFX"
    group, second, setting = PHOTOREAL_GROUP, "Photoreal", "photoreal"


class NeuralNovelViewNode(_HelperFeatureNode, bpy.types.CompositorNodeCustomGroup):
    """Neural Novel View: the scene's own render and the camera's view synthesised from a
    multiview folder by the helper scene."""

    bl_idname = "NeuralNovelViewNode"
    bl_label = "Neural Novel View"
    bl_icon = "VIEW_CAMERA"
    group, second, setting = NOVEL_VIEW_GROUP, "Novel View", "novel_view"


class NeuralRelightNode(bpy.types.CompositorNodeCustomGroup):
    """Neural Relight: wire Render Layers 'Image' and 'Neural Relit' in; the settings choose the target lighting."""

    bl_idname = "NeuralRelightNode"
    bl_label = "Neural Relight"
    bl_icon = "LIGHT_SUN"

    settings: PointerProperty(type=NEURAL_PG_relight)

    def init(self, context):
        self.node_tree = _mix_group(RELIGHT_GROUP, "Relit")
        from .relight import enable_passes

        enable_passes(context.scene if context and getattr(context, "scene", None) else None)
        refresh_render_passes(self.id_data)

    def free(self):
        refresh_render_passes(self.id_data)

    def draw_buttons(self, context, layout):
        self.settings.draw(layout)


class NODE_MT_neural_add(bpy.types.Menu):
    bl_idname = "NODE_MT_neural_add"
    bl_label = "Neural"

    def draw(self, context):
        for cls in NODE_CLASSES:
            op = self.layout.operator("node.add_node", text=cls.bl_label)
            op.type = cls.bl_idname
            op.use_transform = True


def _draw_add_menu(self, context):
    if getattr(context.space_data, "tree_type", "") == "CompositorNodeTree":
        self.layout.menu(NODE_MT_neural_add.bl_idname)


NODE_CLASSES = (NeuralDenoiseNode, NeuralPhotorealNode, NeuralRelightNode, NeuralNovelViewNode)
classes = (*NODE_CLASSES, NODE_MT_neural_add)
_register, _unregister = bpy.utils.register_classes_factory(classes)

ADD_MENU = "NODE_MT_compositor_node_add_all"


def register():
    _register()
    menu = getattr(bpy.types, ADD_MENU, None)
    if menu is not None:
        menu.append(_draw_add_menu)


def unregister():
    menu = getattr(bpy.types, ADD_MENU, None)
    if menu is not None:
        menu.remove(_draw_add_menu)
    _unregister()


def refresh_render_passes(tree=None) -> None:
    """Make Render Layers nodes show (or drop) the neural passes of scenes using ``tree``."""
    for scene in bpy.data.scenes:
        if tree is None or getattr(scene, "compositing_node_group", None) == tree:
            for vl in scene.view_layers:
                vl.update_render_passes()


def denoise_nodes(scene) -> list:
    """Unmuted Neural Denoise nodes in the scene's compositor tree (searching nested groups)."""
    return _find_nodes(scene, NeuralDenoiseNode.bl_idname)


def relight_nodes(scene) -> list:
    """Unmuted Neural Relight nodes in the scene's compositor tree (searching nested groups)."""
    return _find_nodes(scene, NeuralRelightNode.bl_idname)


def _find_nodes(scene, idname: str) -> list:
    tree = getattr(scene, "compositing_node_group", None)
    found, seen = [], set()

    def walk(t):
        if t is None or t.name in seen:
            return
        seen.add(t.name)
        for n in t.nodes:
            if n.bl_idname == idname and not n.mute:
                found.append(n)
            elif n.type == "GROUP" and n.bl_idname not in {c.bl_idname for c in NODE_CLASSES}:
                walk(n.node_tree)

    walk(tree)
    return found

"""What the compositor nodes of the "Neural" category share (pattern B).

Python cannot run inside Blender's compositor, so each op's node (defined in the op's module:
:mod:`addon.denoise`, :mod:`addon.relight`, ...) is a group of built-in nodes: the op itself runs
in the render hook (:mod:`.render_pass`) or a helper scene (:mod:`.helper_scene`), and the group
blends its result with the input image by ``Mix``. Here: that mix group, the base of the nodes
fed by a helper scene, the Add menu, and finding nodes in a scene's compositor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bpy

#: Every Neural node class (each op module adds its own with :func:`menu_node`), by label: the
#: Add menu's order, whatever order the op modules load in.
NODE_CLASSES: list[type] = []


@dataclass
class PassOp:
    """An op whose result is a render pass the Cycles hook (:mod:`.render_pass`) fills; each
    op module declares its own with :func:`pass_op`, so the engine names no op."""

    name: str
    """The render pass (``Neural Denoised``, ``Neural Relit``)."""
    settings: Callable
    """``settings(scene)``: the settings that drive the pass, or None while it is off."""
    label: Callable
    """``label(settings)``: what the status bar and a failure report call the work."""
    fill: Callable
    """``fill(engine, scene, layer_name, passes, settings) -> (H, W, 3)``: the pass's pixels."""
    seen: Callable | None = None
    """``seen(scene, passes)``: called with each rendered layer's passes while the op is on
    (e.g. kept for "Relight Last Render")."""


#: Pass name -> its op, in the order the op modules declared them.
PASS_OPS: dict[str, PassOp] = {}


def pass_op(op: PassOp) -> PassOp:
    """Declare an op's render pass."""
    PASS_OPS[op.name] = op
    return op


def sync_pass_aovs(scene) -> None:
    """Make each active op's pass a colour AOV of ``scene``'s view layers, and remove those of
    ops that are off.

    Why an AOV: Cycles checks every pass of the render result against its own list and logs
    ``ERROR Unknown pass <name>`` on each render for any pass it does not know, unless it is a
    shader AOV. Declared as an AOV, the pass is registered by Cycles itself (Render Layers
    shows it, no shader writes it) and the hook overwrites it once the frame is done.
    """
    wanted = {name for name, op in PASS_OPS.items() if op.settings(scene) is not None}
    for vl in scene.view_layers:
        for name in PASS_OPS:
            aov = next((a for a in vl.aovs if a.name == name), None)
            if name in wanted and aov is None:
                aov = vl.aovs.add()
                aov.name, aov.type = name, "COLOR"
            elif name not in wanted and aov is not None:
                vl.aovs.remove(aov)


def owner_scenes(settings, context=None) -> list:
    """The scenes a settings group applies to: its scene, or those of the node tree holding it
    (:func:`tree_scenes`)."""
    owner = settings.id_data
    if isinstance(owner, bpy.types.Scene):
        return [owner]
    return tree_scenes(owner, context)


def tree_scenes(tree, context=None) -> list:
    """The scenes whose compositor is ``tree``, else the context's scene (a node in a tree no
    scene uses yet)."""
    found = [sc for sc in bpy.data.scenes if getattr(sc, "compositing_node_group", None) == tree]
    scene = getattr(context, "scene", None) if context is not None else None
    return found or ([scene] if scene is not None else [])


def enable_layer_passes(scenes, flags, cycles_flags=()) -> None:
    """Turn on view-layer passes (``use_pass_*`` names; ``cycles_flags`` on ``view_layer.cycles``)."""
    for sc in scenes:
        for vl in sc.view_layers:
            for flag in flags:
                setattr(vl, flag, True)
            for flag in cycles_flags:
                cyc = getattr(vl, "cycles", None)
                if cyc is not None and hasattr(cyc, flag):
                    setattr(cyc, flag, True)


def remove_pass_aovs() -> None:
    """Remove the AOVs of :func:`sync_pass_aovs` from every scene (the add-on is being disabled)."""
    for scene in bpy.data.scenes:
        for vl in scene.view_layers:
            for aov in [a for a in vl.aovs if a.name in PASS_OPS]:
                vl.aovs.remove(aov)


def menu_node(cls: type) -> type:
    """Class decorator: list a node in the Neural Add menu."""
    if cls.bl_idname not in {c.bl_idname for c in NODE_CLASSES}:
        NODE_CLASSES.append(cls)
        NODE_CLASSES.sort(key=lambda c: c.bl_label)
    return cls


def mix_group(name: str, second: str) -> bpy.types.NodeTree:
    """The inner tree shared by all nodes of one kind (created once per file): mix(Image, <second>, Mix)."""
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


class HelperFeatureNode:
    """Base of a node fed by a helper scene (:mod:`.helper_scene`): 'Image' is the scene's own
    render, ``second`` the helper's Render Layers image; its settings live on the scene
    (``scene.neural_render.<setting>``), and enabling them wires both inputs."""

    group = ""
    second = ""
    setting = ""

    def init(self, context):
        self.node_tree = mix_group(self.group, self.second)
        # Adding the node by hand turns on the passes the op reads (enabling the feature wires it).
        from .helper_scene import FEATURES

        feature = next((f for f in FEATURES.values() if f.node_idname == self.bl_idname), None)
        if feature is not None:
            for scene in tree_scenes(self.id_data, context):
                feature.enable_passes(scene)

    def draw_buttons(self, context, layout):
        settings = getattr(context.scene.neural_render, self.setting)
        layout.prop(settings, "enabled")
        settings.draw(layout)


class PassNode:
    """Base of a node fed by a render pass that the Cycles hook fills: wire Render Layers 'Image'
    and the op's pass (``second``) in; the node's own ``settings`` choose the method. Adding or
    removing one makes Render Layers nodes show or drop the pass."""

    group = ""
    second = ""

    def init(self, context):
        self.node_tree = mix_group(self.group, self.second)
        self.added(context)
        refresh_render_passes(self.id_data)

    def added(self, context) -> None:
        """What the op does when one of its nodes is added (turn on the passes it reads)."""

    def free(self):
        if not _registered:
            # Freed after the add-on was disabled (Blender quitting, a file closing): Cycles may
            # be gone already, and there is nothing left to refresh.
            return
        # The node is still in its tree while it is freed: muted, it no longer drives the pass.
        self.mute = True
        refresh_render_passes(self.id_data)

    def draw_buttons(self, context, layout):
        self.settings.draw(layout)


def active_settings(scene, node_class: type, setting: str):
    """The settings that drive an op's pass: the first unmuted node of ``node_class`` in the
    compositor, else the scene's ``neural_render.<setting>`` when its pass is enabled, else None."""
    found = find_nodes(scene, node_class.bl_idname)
    if found:
        return found[0].settings
    s = getattr(scene.neural_render, setting)
    return s if s.enabled else None


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


classes = (NODE_MT_neural_add,)
_register, _unregister = bpy.utils.register_classes_factory(classes)

ADD_MENU = "NODE_MT_compositor_node_add_all"


#: Whether the add-on is registered (nodes freed after it was disabled do nothing).
_registered = False


def register():
    global _registered
    _register()
    _registered = True
    menu = getattr(bpy.types, ADD_MENU, None)
    if menu is not None:
        menu.append(_draw_add_menu)


def unregister():
    global _registered
    _registered = False
    menu = getattr(bpy.types, ADD_MENU, None)
    if menu is not None:
        menu.remove(_draw_add_menu)
    try:
        remove_unused_groups()
    except AttributeError:  # bpy.data not available (Blender quitting)
        pass
    _unregister()


def remove_unused_groups() -> None:
    """Delete the inner node groups of the Neural nodes that no node uses any more."""
    used = {getattr(n, "node_tree", None) for t in bpy.data.node_groups for n in t.nodes}
    used = {t.name for t in used if t is not None}
    for cls in NODE_CLASSES:
        tree = bpy.data.node_groups.get(getattr(cls, "group", "") or "")
        # Counted by hand: a group keeps a user for a while after its last node is removed.
        if tree is not None and tree.name not in used:
            bpy.data.node_groups.remove(tree)


def refresh_render_passes(tree=None) -> None:
    """Make Render Layers nodes show (or drop) the neural passes of scenes using ``tree``."""
    for scene in bpy.data.scenes:
        if tree is None or getattr(scene, "compositing_node_group", None) == tree:
            sync_pass_aovs(scene)
            for vl in scene.view_layers:
                vl.update_render_passes()


def refresh(self=None, context=None) -> None:
    """A property ``update`` that refreshes every scene's passes. A plain function, not a lambda:
    Blender evaluates the (postponed) annotations in its own namespace, where a lambda's global
    look-ups would fail."""
    refresh_render_passes()


def find_nodes(scene, idname: str) -> list:
    """Unmuted nodes of ``idname`` in the scene's compositor tree (searching nested groups)."""
    tree = getattr(scene, "compositing_node_group", None)
    ours = {c.bl_idname for c in NODE_CLASSES}
    found, seen = [], set()

    def walk(t):
        if t is None or t.name in seen:
            return
        seen.add(t.name)
        for n in t.nodes:
            if n.bl_idname == idname and not n.mute:
                found.append(n)
            elif n.type == "GROUP" and n.bl_idname not in ours:
                walk(n.node_tree)

    walk(tree)
    return found

"""Small stand-ins for the Blender data the add-on's logic reads (attributes only, no bpy)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def translation(x: float, y: float, z: float) -> list[list[float]]:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m.tolist()


def rotation_x(angle: float) -> list[list[float]]:
    c, s = np.cos(angle), np.sin(angle)
    return [[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]]


@dataclass
class Denoise:
    method: str = "neural"
    oidn_quality: str = "high"
    radius: int = 6
    sigma_color: float = 0.6
    despike: bool = True
    model_weights: str = ""
    per_aov: bool = False
    temporal: bool = False
    tile: int = 1024


@dataclass
class Photoreal:
    model_weights: str = ""
    photo_albedo: bool = False
    albedo_weights: str = ""
    tile: int = 512


@dataclass
class Relight:
    method: str = "neural"
    target: str = "HDRI"
    hdri: str = "forest.exr"
    rotation: float = 0.0
    strength: float = 1.0
    lights_json: str = ""
    scene: object = None
    use_source: bool = True
    model_weights: str = ""
    tile: int = 512


@dataclass
class Export:
    directory: str = "/tmp/out"
    spp: int = 4
    views: str = "ACTIVE"
    frame_start: int = 1
    frame_end: int = 1
    half: bool = True
    overwrite: bool = False
    cycles_denoised: bool = True


@dataclass
class Dataset:
    kind: str = "denoise"
    directory: str = "/tmp/ds"
    scenes: int = 20
    seed: int = 0
    resolution: int = 128
    spp: str = "1,4,16"
    ref_spp: int = 256


# -- scenes --------------------------------------------------------------------------------------


@dataclass
class Socket:
    default_value: object = None
    links: list = field(default_factory=list)

    @property
    def is_linked(self) -> bool:
        return bool(self.links)


@dataclass
class Link:
    from_node: object


@dataclass
class Node:
    type: str
    name: str = ""
    inputs: dict = field(default_factory=dict)
    image: object = None


@dataclass
class Image:
    name: str
    filepath: str
    library: object = None


@dataclass
class NodeTree:
    nodes: list


@dataclass
class World:
    name: str = "World"
    node_tree: NodeTree | None = None
    color: tuple = (0.05, 0.05, 0.05)


def colour_world(rgb=(0.2, 0.3, 0.4), strength=1.5) -> World:
    bg = Node("BACKGROUND", "Background", {"Color": Socket((*rgb, 1.0)), "Strength": Socket(strength)})
    return World(node_tree=NodeTree([bg]))


def hdri_world(path="/hdri/sky.exr", rotation=0.7, strength=0.8, mapping=True) -> World:
    vec = Socket()
    if mapping:
        vec.links.append(Link(Node("MAPPING", "Mapping", {"Rotation": Socket((0.0, 0.0, rotation))})))
    env = Node("TEX_ENVIRONMENT", "Environment Texture", {"Vector": vec}, image=Image("sky.exr", path))
    bg = Node("BACKGROUND", "Background", {"Color": Socket(links=[Link(env)]), "Strength": Socket(strength)})
    return World(node_tree=NodeTree([bg, env]))


@dataclass
class LightData:
    type: str
    color: tuple = (1.0, 1.0, 1.0)
    energy: float = 100.0
    size: float = 1.0
    shadow_soft_size: float = 0.25
    angle: float = 0.1
    spot_size: float = 0.785
    spot_blend: float = 0.15


@dataclass
class CameraData:
    neural_render: object = None


@dataclass
class Object:
    name: str
    type: str
    data: object = None
    matrix_basis: list = field(default_factory=lambda: np.eye(4).tolist())
    parent: object = None
    matrix_parent_inverse: list = field(default_factory=lambda: np.eye(4).tolist())
    hide_render: bool = False


@dataclass
class Scene:
    world: World | None = None
    objects: list = field(default_factory=list)

"""Integration tests render real (tiny) scenes with the bpy module."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy", reason="integration tests need the bpy module (pip install bpy==5.0.1)")


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.bpy)


@pytest.fixture
def default_scene():
    from addon.blender import scenes

    return scenes.build_default_scene((48, 40))


@pytest.fixture
def blend(tmp_path, default_scene):
    path = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


@pytest.fixture
def registered():
    import addon

    addon.register()
    yield addon
    addon.unregister()

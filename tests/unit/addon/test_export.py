"""The export's ``transforms.json`` frames (addon.blender.export), without Blender: a frame read
back by the multiview reader is the camera of the view's sidecar."""

from __future__ import annotations

import numpy as np
import pytest

from addon.blender import export
from neural_ops.core.cameras import Camera

from .stand_ins import rotation_x, translation


def _meta(fit="AUTO", shift_x=0.1, res=(64, 48), aspect=(1.0, 1.0)):
    pose = np.array(translation(1.0, -2.0, 0.5)) @ np.array(rotation_x(0.4))
    return {"frame": 3, "camera": {"name": "Cam.001", "resolution": list(res), "pixel_aspect": list(aspect),
                                   "matrix_world": pose.tolist(), "type": "PERSP", "lens": 35.0,
                                   "sensor_width": 36.0, "sensor_height": 24.0, "sensor_fit": fit,
                                   "shift_x": shift_x, "shift_y": -0.05}}


@pytest.mark.parametrize("fit, res, aspect", [("AUTO", (64, 48), (1, 1)), ("VERTICAL", (40, 60), (1, 1)),
                                              ("HORIZONTAL", (64, 48), (1.0, 1.5))])
def test_transforms_frame_reads_back_as_the_sidecar_camera(fit, res, aspect):
    meta = _meta(fit, res=res, aspect=aspect)
    frame = export.transforms_frame(meta, "Cam_001_0003.exr")
    assert frame["exr_file_path"] == "Cam_001_0003.exr" and frame["file_path"] == "Cam_001_0003.png"
    assert frame["camera"] == "Cam.001" and frame["frame"] == 3
    got, want = Camera.from_transforms(frame, {}), Camera.from_sidecar(meta)
    assert np.allclose(got.c2w, want.c2w)
    assert np.allclose([got.fx, got.fy, got.cx, got.cy, got.w, got.h], [want.fx, want.fy, want.cx, want.cy, want.w, want.h])


def test_several_views_make_a_multiview_set(tmp_path):
    one = [export.View("Camera", 1, tmp_path / "frame_0001.exr")]
    assert not export.multiview(one)
    assert export.multiview(one + [export.View("Camera", 2, tmp_path / "frame_0002.exr")])


def test_empty_output_folder_is_one_clear_line():
    with pytest.raises(export.ExportError, match="no output folder chosen"):
        export.plan_views(object(), export.ExportConfig(directory=""))

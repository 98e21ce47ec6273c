"""A multi-view set rendered with the real bpy loads in nerfstudio 1.1.5's own NerfstudioDataParser.

``make env`` installs ``nerfstudio==1.1.5`` with ``--no-deps`` plus the few small packages its
data parser imports (see the Makefile), so this runs the real parser, not a re-implementation.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types

import numpy as np
import pytest

from training.datagen import generate as datagen

pytest.importorskip("nerfstudio", reason="needs nerfstudio==1.1.5 (make env installs it with --no-deps)")

VIEWS = 3


class _Stub(types.ModuleType):
    """A stand-in module: any attribute is a function that fails loudly if it is ever called."""

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def missing(*args, **kwargs):
            raise RuntimeError(f"{self.__name__}.{attr} is stubbed in test_novel_view_interop")

        return missing


@pytest.fixture(scope="module")
def ns():
    """nerfstudio's data parser and dataset classes.

    STUBS, only for packages that are not installed: nerfstudio imports three heavy packages at
    module level that play no part in parsing transforms.json or reading its images, and that
    ``nerfstudio --no-deps`` does not bring: cv2 (JPEG export in cameras.py, depth-image resizing
    in data/utils/data_utils.py), viser (OrientedBox.from_params in data/scene_box.py) and
    tensorboard (SummaryWriter in utils/writer.py). The stubs leave sys.modules after import.
    """
    stubs = {}
    if importlib.util.find_spec("cv2") is None:
        stubs["cv2"] = _Stub("cv2")
    if importlib.util.find_spec("viser") is None:
        stubs["viser"] = _Stub("viser")
        stubs["viser.transforms"] = stubs["viser"].transforms = _Stub("viser.transforms")
    if importlib.util.find_spec("tensorboard") is None:
        stubs["torch.utils.tensorboard"] = _Stub("torch.utils.tensorboard")
    with pytest.MonkeyPatch.context() as mp:
        for name, module in stubs.items():
            mp.setitem(sys.modules, name, module)
        from nerfstudio.data.dataparsers.nerfstudio_dataparser import NerfstudioDataParserConfig
        from nerfstudio.data.datasets.base_dataset import InputDataset
    return types.SimpleNamespace(Config=NerfstudioDataParserConfig, InputDataset=InputDataset)


@pytest.fixture(scope="module")
def mv(tmp_path_factory):
    out = tmp_path_factory.mktemp("mv_interop")
    datagen.generate(datagen.DataConfig(kind="multiview", out=str(out), scenes=1, resolution=32, spp=[1], ref_spp=4,
                                        views=VIEWS), progress=lambda m: None)
    folder = datagen.sample_dir(out, 0)
    return folder, json.loads((folder / "transforms.json").read_text())


def _parse(ns, folder, **kw):
    # eval_mode="all": every frame is in the train split (the default 0.9 fraction would hold some out).
    return ns.Config(data=folder, eval_mode="all", depth_unit_scale_factor=1.0, **kw).setup() \
        ._generate_dataparser_outputs("train")


def test_nerfstudio_parser_reads_images_intrinsics_and_depth_paths(ns, mv):
    from neural_ops import read_exr
    from neural_ops.core.imageio import to_display

    folder, tf = mv
    out = _parse(ns, folder)
    frames = sorted(tf["frames"], key=lambda f: f["file_path"])  # nerfstudio sorts frames by file name
    assert len(out.image_filenames) == VIEWS == len(frames)
    assert [p.resolve() for p in out.image_filenames] == [(folder / f["file_path"]).resolve() for f in frames]
    assert all(p.is_file() for p in out.image_filenames)
    assert [p.resolve() for p in out.metadata["depth_filenames"]] == \
        [(folder / f["depth_file_path"]).resolve() for f in frames]

    cams = out.cameras
    assert cams.shape == (VIEWS,)
    for name, key in (("fx", "fl_x"), ("fy", "fl_y"), ("cx", "cx"), ("cy", "cy")):
        np.testing.assert_allclose(getattr(cams, name).numpy().ravel(), tf[key], rtol=1e-6, err_msg=name)
    assert cams.width.ravel().tolist() == [tf["w"]] * VIEWS and cams.height.ravel().tolist() == [tf["h"]] * VIEWS
    assert tf["w"] == tf["h"] == 32
    assert not cams.distortion_params.any()

    # nerfstudio's dataset opens file_path with PIL: the pixels are our display-encoded colour.
    ds = ns.InputDataset(out)
    for i, fr in enumerate(frames):
        img = ds.get_numpy_image(i)
        assert img.shape == (tf["h"], tf["w"], 3)
        np.testing.assert_array_equal(img, to_display(read_exr(folder / fr["exr_file_path"]).color))


def test_nerfstudio_poses_are_our_matrix_world_up_to_its_documented_transform(ns, mv):
    folder, tf = mv
    ours = np.array([f["transform_matrix"] for f in sorted(tf["frames"], key=lambda f: f["file_path"])])
    assert ours.shape == (VIEWS, 4, 4)

    # Defaults (orient "up", centre on the poses, auto-scale): output = scale * (T @ c2w) on the translation.
    out = _parse(ns, folder)
    c2w = out.cameras.camera_to_worlds.numpy().astype(np.float64)  # (V, 3, 4), OpenGL camera axes
    T, s = out.dataparser_transform.numpy().astype(np.float64), float(out.dataparser_scale)
    assert T.shape == (3, 4) and s > 0
    np.testing.assert_allclose(c2w[:, :, :3], T[:, :3] @ ours[:, :3, :3], atol=1e-5)
    np.testing.assert_allclose(c2w[:, :, 3], s * (ours[:, :3, 3] @ T[:, :3].T + T[:, 3]), atol=1e-5)
    # Undo it: the camera centres come back to ours (matrix_world translation, metres).
    centres = (c2w[:, :, 3] / s - T[:, 3]) @ np.linalg.inv(T[:, :3]).T
    np.testing.assert_allclose(centres, ours[:, :3, 3], atol=1e-4)

    # With its transforms off the poses are ours as written: no hidden axis change on our data.
    raw = _parse(ns, folder, orientation_method="none", center_method="none", auto_scale_poses=False)
    np.testing.assert_allclose(raw.dataparser_transform.numpy(), np.eye(4)[:3], atol=1e-7)
    assert float(raw.dataparser_scale) == 1.0
    np.testing.assert_allclose(raw.cameras.camera_to_worlds.numpy(), ours[:, :3, :4], atol=1e-5)

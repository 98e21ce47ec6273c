"""Training's ``neural-render`` commands: ``data``, ``train KIND``, ``eval KIND``, ``ship``,
``export-onnx``, ``curves`` and ``benchmark {data,cg2real,relight,novel-view}``.

A plugin of the ``neural_render.commands`` entry-point group (see :mod:`neural_ops.cli`). The
options of ``data``, ``train KIND`` and ``eval KIND`` are generated from the config dataclass of
that job (:func:`neural_ops.cli.args.add_config`): its defaults and field docs are the only ones,
and an op's parser has exactly the fields that op reads. Those modules import torch, so each
parser is filled in only when its command is parsed or its ``--help`` is shown; registering the
commands imports nothing heavy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from neural_ops.cli.args import add_config
from neural_ops.core.errors import NeuralRenderError


def _log(message: str) -> None:
    print(message, flush=True)


def _needs_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise NeuralRenderError("this command needs torch: pip install torch==2.13.0") from None


def _needs_bpy() -> None:
    try:
        import bpy  # noqa: F401
    except ImportError:
        raise NeuralRenderError("this command renders with Blender's bpy module: pip install bpy==5.0.1 "
                                "(Python 3.11)") from None


def _check(cfg) -> None:
    """The config's own check, its errors as one line."""
    try:
        cfg.check()
    except ValueError as e:
        raise NeuralRenderError(str(e)) from None


# -- train --------------------------------------------------------------------------------------
# Each loader imports the trainer (torch) and returns (module, config class).


def _train_denoise():
    from .denoise import train

    return train, train.TrainConfig


def _train_cg2real():
    from .cg2real import train

    return train, train.Cg2RealTrainConfig


def _train_unpaired():
    from .cg2real import unpaired

    return unpaired, unpaired.UnpairedConfig


def _train_relight():
    from .relight import train

    return train, train.RelightTrainConfig


def _train_novel_view():
    from .novel_view import train

    return train, train.NovelViewTrainConfig


def _train_inbetween():
    from .novel_view import inbetween_train

    return inbetween_train, inbetween_train.InbetweenTrainConfig


#: kind -> (loader, aliases, help). The novel-view trainer keeps its first name as an alias.
TRAIN = {
    "denoise": (_train_denoise, (), "the learned denoiser, on a 'data denoise' folder"),
    "cg2real": (_train_cg2real, (), "the CG2Real generator (paired stage), on a 'data cg2real' folder"),
    "cg2real-unpaired": (_train_unpaired, (), "CG2Real's albedo stage: CycleGAN between rendered albedo and --photos"),
    "relight": (_train_relight, (), "the relighting network, on a 'data relight' folder"),
    "novel-view": (_train_novel_view, ("ibr",), "learned blending for novel views, on a 'data multiview' folder"),
    "inbetween": (_train_inbetween, (), "Render 1 in N's learned key blend, on rendered animated shots "
                  "(python -m training.novel_view.inbetween_data)"),
}


def _populate_train(kind, loader):
    def populate(parser: argparse.ArgumentParser) -> None:
        _needs_torch()
        module, config = loader()
        binding = add_config(parser, config)

        def run(args) -> int:
            cfg = binding.build(args)
            if not Path(cfg.data).is_dir():
                raise NeuralRenderError(f"{cfg.data}: no such dataset folder")
            if hasattr(cfg, "check"):
                _check(cfg)
            elif kind != "relight":  # the relight trainer sets lighting_dim first and checks itself
                _check(cfg.model)
            module.train(cfg, log=_log)
            return 0

        parser.set_defaults(fn=run, config=binding.build)  # config(args): the config alone, for tests

    return populate


# -- eval ---------------------------------------------------------------------------------------


def _eval_denoise():
    from .denoise import eval as ev

    return ev.EvalConfig, lambda cfg: ev.evaluate(cfg, log=_log)


def _eval_cg2real():
    from .cg2real import eval as ev

    return ev.Cg2RealEvalConfig, lambda cfg: ev.evaluate(cfg, log=_log)


def _eval_relight():
    from .relight import eval as ev

    return ev.RelightEvalConfig, lambda cfg: ev.evaluate(cfg, log=_log)


def _eval_novel_view():
    from neural_ops.nn.weights import available_models

    from .novel_view import eval as ev

    def run(cfg) -> None:
        models = {}
        for item in cfg.models:
            label, sep, ref = item.partition("=")
            if not sep or not label or not ref:
                raise NeuralRenderError(f"--model {item!r}: expected LABEL=NAME|PATH")
            models[label] = ref
        if not cfg.models:  # shipped weights keep their first name, ibr_*.safetensors
            models = {("ours" if name == "default" else name): name for name in available_models("ibr")}
        ev.evaluate(cfg.data, models, cfg.out, log=_log, max_samples=cfg.max_samples, max_targets=cfg.max_targets,
                    ulr_k=cfg.ulr_k, every=cfg.every, per_side=cfg.per_side, denoise=cfg.denoise)

    return ev.NovelViewEvalConfig, run


def _eval_temporal():
    from .denoise import temporal_eval as te

    def run(cfg) -> None:
        _needs_bpy()
        _check(cfg)
        te.run(Path(cfg.out), moves=cfg.moves, frames=cfg.frames, resolution=cfg.resolution, spp=cfg.spp,
               ref_spp=cfg.ref_spp, methods=cfg.methods, frames_window=cfg.frames_window, log=_log)

    return te.TemporalEvalConfig, run


def _eval_inbetween():
    from .novel_view import inbetween_eval as ie

    def run(cfg) -> None:
        _needs_bpy()
        _check(cfg)
        ie.run(cfg, log=_log)

    return ie.InbetweenEvalConfig, run


#: kind -> (loader, aliases, help); a loader returns (config class, run(config)).
EVAL = {
    "denoise": (_eval_denoise, (), "denoisers on held-out samples: metrics per spp, time per megapixel, a grid"),
    "temporal": (_eval_temporal, (), "animation denoising (per frame, temporal, multi-frame) on rendered shots with a cut, occlusion, a window interior (bpy)"),
    "cg2real": (_eval_cg2real, (), "CG2Real generators against EEVEE and Cycles on held-out samples"),
    "relight": (_eval_relight, (), "relighting against analytic shading and a cheap re-render on held-out samples"),
    "novel-view": (_eval_novel_view, ("ibr",), "ULR and learned blending on held-out multiview scenes"),
    "inbetween": (_eval_inbetween, (), "render 1 in N on held-out animated shots against every frame rendered and optical-flow interpolation (bpy)"),
}


def _populate_eval(loader):
    def populate(parser: argparse.ArgumentParser) -> None:
        _needs_torch()
        config, run_config = loader()
        binding = add_config(parser, config)

        def run(args) -> int:
            cfg = binding.build(args)
            if getattr(cfg, "data", None) is not None and not Path(cfg.data).is_dir():
                raise NeuralRenderError(f"{cfg.data}: no such dataset folder")
            run_config(cfg)
            return 0

        parser.set_defaults(fn=run, config=binding.build)  # config(args): the config alone, for tests

    return populate


# -- data ---------------------------------------------------------------------------------------


def _populate_data(parser: argparse.ArgumentParser) -> None:
    from .datagen import generate

    binding = add_config(parser, generate.DataConfig)

    def run(args) -> int:
        _needs_bpy()
        cfg = binding.build(args)
        if cfg.from_blend:
            cfg.from_blend = str(Path(cfg.from_blend).resolve())
        generate.generate(cfg, progress=generate.ConsoleProgress())  # a bar on a terminal, lines in a log
        print(f"dataset in {cfg.out} (see DATACARD.md)")
        return 0

    parser.set_defaults(fn=run, config=binding.build)


# -- scripts: ship, curves, benchmarks -----------------------------------------------------------


def _script(loader, needs=()):
    """A parser filled by a script module's ``add_arguments``; the command runs its ``run_args``."""

    def populate(parser: argparse.ArgumentParser) -> None:
        module = loader()
        module.add_arguments(parser)

        def run(args) -> int:
            for need in needs:
                need()
            return module.run_args(args) or 0

        parser.set_defaults(fn=run)

    return populate


def _ship():
    from . import ship

    return ship


def _export_onnx():
    from . import export_onnx

    return export_onnx


def _pipeline():
    from .denoise import pipeline

    return pipeline


def _curves():
    from .common import curves

    return curves


def _bench_data():
    from .datagen import bench

    return bench


def _bench_cg2real():
    from .cg2real import bench

    return bench


def _bench_relight():
    from .relight import bench

    return bench


def _bench_novel_view():
    from .novel_view import bench

    return bench


#: name -> (loader, what it needs at run time, help)
BENCHMARKS = {
    "data": (_bench_data, (_needs_bpy,), "dataset throughput: samples per hour per core and disk per sample"),
    "cg2real": (_bench_cg2real, (_needs_bpy, _needs_torch), "EEVEE + the CG2Real network against a 1024-spp Cycles render"),
    "relight": (_bench_relight, (_needs_bpy, _needs_torch), "relighting a frame against re-rendering it with Cycles"),
    "novel-view": (_bench_novel_view, (_needs_bpy,), "render 1 in N against rendering every frame of a camera move"),
}


def register(sub) -> None:
    """Add training's commands to the ``neural-render`` sub-parsers ``sub`` (parsers are filled in lazily)."""
    s = sub.add_parser("data", help="render a paired training dataset from procedural scenes (bpy)",
                       populate=_populate_data)

    s = sub.add_parser("train", help="train a learned op on a dataset folder (torch); 'train KIND --help' for its options")
    kinds = s.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (loader, aliases, text) in TRAIN.items():
        kinds.add_parser(kind, aliases=list(aliases), help=text, description=f"Train {text}.",
                         populate=_populate_train(kind, loader))

    s = sub.add_parser("eval", help="evaluate learned ops against the baselines on held-out data (torch)")
    kinds = s.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind, (loader, aliases, text) in EVAL.items():
        kinds.add_parser(kind, aliases=list(aliases), help=text, description=f"Evaluate {text}.",
                         populate=_populate_eval(loader))

    sub.add_parser("ship", help="copy a trained model into neural_ops/weights with its model card",
                   populate=_script(_ship))
    sub.add_parser("export-onnx", help="write the ONNX graph (what the add-on runs without torch) beside model weights",
                   populate=_script(_export_onnx, (_needs_torch,)))
    sub.add_parser("pipeline", help="render the training data, train for hours and evaluate, in one resumable command",
                   populate=_script(_pipeline, (_needs_torch,)))
    sub.add_parser("curves", help="quality against training time and training-set size, from runs and an eval",
                   populate=_script(_curves))
    s = sub.add_parser("benchmark", help="end-to-end timings: dataset throughput, CG2Real, relighting, render 1 in N")
    names = s.add_subparsers(dest="benchmark", required=True, metavar="WHAT")
    for name, (loader, needs, text) in BENCHMARKS.items():
        names.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".", populate=_script(loader, needs))

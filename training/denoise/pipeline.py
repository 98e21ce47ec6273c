"""One command for the shipped denoiser at scale: render the training data, train for hours,
evaluate on a held-out set (``neural-render pipeline denoise``).

Every step resumes: the dataset renders only the samples it lacks (each sample appears whole or
not at all), training continues from its checkpoint with the time already spent counted against
``--hours``, and evaluation is cheap. Run the same command again after any interruption (Ctrl-C,
a reboot, a killed job). Rendering and training never run at once: on a CPU they would fight
for the same cores. Training runs data-parallel with ``torchrun`` when ``--procs`` > 1 (gloo on
CPU cores, nccl on GPUs) and on a CUDA GPU when there is one.

The model trained is the safe convex head (:mod:`neural_ops.denoise.network`): OIDN's output
gated with softmax weights over OIDN's and the noisy colour's neighbourhoods, trained with
``l1log`` at lr 2e-4. Measured on 160 hard scenes with 128-spp targets: with ``relmse_n2n``
(unbiased for noisy targets, but its gradients follow the targets' fireflies) the validation
relMSE went 13-90 % above OIDN's within minutes, at lr 1e-3 and 5e-4 alike; with ``l1log`` it
stays within 0.3 % of OIDN's. The energy check keeps whatever bias ``l1log`` has out of the
result.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from neural_ops.core.errors import NeuralRenderError

#: Every hard family and the original mix, cycled over the samples.
ALL_FAMILIES = "window,small_lights,dark,textured,glass,metal,dof,motion,mixed"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=["denoise"], help="the op to build (denoise)")
    p.add_argument("-o", "--output", default="data/pipeline/denoise", help="folder for data/, run/ and eval/ (rerun to resume)")
    p.add_argument("--scenes", type=int, default=2000, help="training scenes to render (default 2000)")
    p.add_argument("--resolution", type=int, default=128, help="square resolution of the training renders")
    p.add_argument("--ref-spp", type=int, default=256, help="samples of the training targets (noisy targets are fine: "
                   "the loss is unbiased for them)")
    p.add_argument("--family", default=ALL_FAMILIES, help="scene families, comma-separated (default: all)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (held-out sets must use another)")
    p.add_argument("--spp", default="4,16", help="noisy inputs rendered, trained on and evaluated (4 and 16 give the "
                   "equal-quality speed-up)")
    p.add_argument("--hours", type=float, default=6.0, help="training time in hours (rendering not counted)")
    p.add_argument("--procs", type=int, default=1, help="training processes (torchrun, one per GPU or core group)")
    p.add_argument("--channels", default="16,32,48,64", help="U-Net channels per level")
    p.add_argument("--held-out", help="a held-out 'data denoise' folder (another --seed) to evaluate on at the end")
    p.add_argument("--skip-render", action="store_true", help="train on the samples already rendered")


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "neural_ops", *map(str, args)]


def run_args(args) -> int:
    from ..datagen.generate import ConsoleProgress, DataConfig, generate

    if args.scenes < 20 or args.hours <= 0 or args.procs < 1:
        raise NeuralRenderError("need --scenes >= 20, --hours > 0 and --procs >= 1")
    out = Path(args.output)
    data, run, ev = out / "data", out / "run", out / "eval"
    t0 = time.perf_counter()
    if not args.skip_render:
        print(f"[1/3] training data: {args.scenes} scenes at {args.resolution}^2 in {data} (resumes)", flush=True)
        try:
            import bpy  # noqa: F401
        except ImportError:
            raise NeuralRenderError("rendering the data needs Blender's bpy module (pip install bpy==5.0.1, "
                                    "Python 3.11); --skip-render trains on what is there") from None
        generate(DataConfig(kind="denoise", out=str(data), scenes=args.scenes, seed=args.seed, resolution=args.resolution,
                            spp=[int(v) for v in args.spp.split(",")], ref_spp=args.ref_spp, families=[args.family]), progress=ConsoleProgress())
        print(f"      rendered in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    from ..common.samples import list_samples

    have = len(list_samples(data)) if data.is_dir() else 0
    if have < 2:
        raise NeuralRenderError(f"{data}: {have} rendered samples; render the data first (drop --skip-render)")
    val = min(24, max(1, have // 10))
    train = ["train", "denoise", "--data", data, "-o", run, "--head", "convex", "--base", "oidn", "--half-res",
             "--channels", args.channels, "--loss", "l1log", "--spp", args.spp, "--batch", "16", "--crop", "96",
             "--lr", "2e-4", "--steps", "10000000", "--minutes", f"{args.hours * 60:g}", "--val-every", "500",
             "--ckpt-every", "500", "--val-count", val]
    cmd = _cli(*train)
    if args.procs > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.procs),
               "-m", "neural_ops", *map(str, train)]
    print(f"[2/3] training for {args.hours:g} h in {run} (resumes from its checkpoint): {' '.join(cmd[2:])}", flush=True)
    r = subprocess.run(cmd)
    if r.returncode:
        raise NeuralRenderError(f"training stopped with exit code {r.returncode}; run the same command to resume")
    if args.held_out:
        print(f"[3/3] evaluating on {args.held_out} against OIDN", flush=True)
        r = subprocess.run(_cli("eval", "denoise", "--data", args.held_out, "--spp", args.spp, "--model",
                                f"convex={run / 'model.safetensors'}", "--model", "shipped=", "--baseline", "oidn",
                                "-o", ev))
        if r.returncode:
            raise NeuralRenderError(f"evaluation failed with exit code {r.returncode}")
    print(f"done in {(time.perf_counter() - t0) / 3600:.1f} h: {run / 'model.safetensors'} (to ship it: neural-render "
          f"ship {run} --kind denoise --name NAME" + (f" --eval {ev / 'eval.json'} --label convex)" if args.held_out else ")"),
          flush=True)
    return 0

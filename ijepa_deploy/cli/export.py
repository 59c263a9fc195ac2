"""``ijepa-export``: checkpoint -> verified ONNX artifact directory."""

from __future__ import annotations

import sys
from pathlib import Path

from ijepa_deploy.cli import ArgumentParser, run
from ijepa_deploy.exporters.pipeline import CALIB_METHODS, ExportOptions, run_export
from ijepa_deploy.manifest import STATUS_PASSED
from ijepa_deploy.presets import PRESETS, RANDOM_PREFIX
from ijepa_deploy.runtime.acceptance.summary import summary_table
from ijepa_deploy.runtime.model import usable_graphs
from ijepa_deploy.spec import TASKS


def _precision_arguments(parser: ArgumentParser, default, calib_methods: tuple[str, ...]) -> None:
    """The ``precision graphs`` group: --fp16, --int8 and INT8's calibration and target."""
    prec = parser.add_argument_group(
        "precision graphs",
        "TensorRT 11 is strongly typed: fp16/INT8 live in the ONNX graph. Each graph is "
        "validated and checked against eager fp32 (cosine, max abs, nearest-neighbour overlap).",
    )
    prec.add_argument(
        "--fp16",
        action="store_true",
        help="add model_fp16.onnx: fp16 weights/activations, fp32 I/O and LayerNormalization",
    )
    prec.add_argument(
        "--int8",
        action="store_true",
        help="add model_int8.onnx (explicit Q/DQ for TensorRT) and model_int8_cpu.onnx "
        "(fastest INT8 form for ONNX Runtime on CPU), calibrated on images",
    )
    prec.add_argument(
        "--calib-dir",
        type=Path,
        metavar="DIR",
        help="images for INT8 calibration, a few hundred from your domain (default: the bundled "
        "sample photos and their variants, with a warning: not representative)",
    )
    prec.add_argument(
        "--calib-count",
        type=int,
        default=default.calib_count,
        metavar="N",
        help=f"calibration images (a seeded sample when DIR has more; default {default.calib_count})",
    )
    prec.add_argument(
        "--calib-method",
        choices=calib_methods,
        default=default.calib_method,
        help=f"activation range estimate (default {default.calib_method})",
    )
    prec.add_argument(
        "--int8-target-cosine",
        type=float,
        default=default.int8_target_cosine,
        metavar="X",
        help="min cosine of INT8 embeddings/logits vs eager fp32 on the held-out parity photos; "
        "the most sensitive GEMMs stay in higher precision until it holds "
        f"(default {default.int8_target_cosine})",
    )
    prec.add_argument(
        "--int8-sensitivity-images",
        type=int,
        default=default.int8_sensitivity_images,
        metavar="N",
        help="held-out photos the per-GEMM sensitivity runs on "
        f"(default {default.int8_sensitivity_images}; costs ~half a forward pass per photo "
        "and GEMM)",
    )
    prec.add_argument(
        "--no-engines", action="store_true", help="do not try to build TensorRT engines after the precision graphs"
    )


def parse_args(argv=None):
    default = ExportOptions(model="")  # the one home of every export default
    parser = ArgumentParser(
        prog="ijepa-export",
        description="Export an I-JEPA model to ONNX, check it against eager PyTorch, write an artifact.",
        epilog="Presets (offline, seeded random weights): " + ", ".join(RANDOM_PREFIX + n for n in PRESETS),
    )
    parser.add_argument(
        "--model",
        required=True,
        help="hub id (facebook/ijepa_vith14_1k), local save_pretrained dir, or random:<preset>",
    )
    parser.add_argument("--task", default="feature-extraction", choices=TASKS)
    parser.add_argument("--output", "-o", type=Path, help="artifact directory (default: artifacts/<model>)")
    parser.add_argument("--opset", type=int, default=default.opset, help=f"ONNX opset, >= 17 (default {default.opset})")
    parser.add_argument("--image-size", type=int, help="export resolution (position embeddings interpolated)")
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=list(default.batch_sizes),
        help=f"batch sizes for the parity check (default {' '.join(map(str, default.batch_sizes))})",
    )
    parser.add_argument(
        "--max-batch",
        type=int,
        default=default.max_batch,
        help=f"largest batch the artifact accepts (default {default.max_batch})",
    )
    parser.add_argument("--revision", help="hub revision (branch, tag or commit)")
    parser.add_argument("--seed", type=int, default=0, help="seed for random:<preset> weights")
    parser.add_argument(
        "--parity-images",
        type=Path,
        help="directory of photos for the parity check (default: the bundled sample photos)",
    )
    parser.add_argument("--threads", type=int, help="CPU threads for torch and ONNX Runtime")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing artifact directory")
    _precision_arguments(parser, default, CALIB_METHODS)
    args = parser.parse_args(argv)
    return ExportOptions(
        model=args.model,
        task=args.task,
        output=args.output,
        opset=args.opset,
        image_size=args.image_size,
        batch_sizes=tuple(args.batch_sizes),
        max_batch=args.max_batch,
        revision=args.revision,
        seed=args.seed,
        parity_images=args.parity_images,
        overwrite=args.overwrite,
        threads=args.threads,
        fp16=args.fp16,
        int8=args.int8,
        calib_dir=args.calib_dir,
        calib_count=args.calib_count,
        calib_method=args.calib_method,
        int8_target_cosine=args.int8_target_cosine,
        int8_sensitivity_images=args.int8_sensitivity_images,
        engines=not args.no_engines,
    )


def _main(argv=None) -> int:
    opts = parse_args(argv)
    result = run_export(opts)
    print(summary_table(result.manifest, result.directory))
    manifest = result.manifest
    if manifest.status != STATUS_PASSED:
        kept = (
            ""
            if result.directory == opts.resolved_output()
            else (f"; {opts.resolved_output()} is untouched, the failed export is kept at {result.directory}")
        )
        print(
            f"error: {result.directory} | parity check FAILED for {', '.join(failed_parts(manifest))}; "
            f"manifest status {manifest.status!r}; {usable_parts(manifest)}; files kept for debugging{kept}",
            file=sys.stderr,
        )
        return 1
    return 0


def failed_parts(manifest) -> list[str]:
    """What did not pass: graphs, OpenVINO's bf16 mode and TensorRT engines, by name."""
    parts = [f"{v} ({g.file})" for v, g in manifest.graphs.items() if g.status != STATUS_PASSED]
    parts += [
        f"{r.graph} in OpenVINO's {r.precision} mode"
        for r in manifest.parity
        if not r.passed
        and r.engine is None
        and r.graph in manifest.graphs
        and r.precision != manifest.graphs[r.graph].precision
    ]
    parts += [f"TensorRT engine {e.file}" for e in manifest.engines.values() if e.status not in (None, STATUS_PASSED)]
    return parts or ["the export"]


def usable_parts(manifest) -> str:
    usable = usable_graphs(manifest)
    if not usable:
        return "nothing in it is served (the runtime refuses it unless allow_unverified=True)"
    return f"still usable: {', '.join(usable)} (the runtime serves only what passed)"


def main(argv=None) -> int:
    # SIGTERM (kill, a job scheduler) unwinds like Ctrl-C (cli.run), so an --overwrite export
    # moves its unfinished directory aside and leaves the old artifact as it was.
    sys.exit(run(_main, argv))

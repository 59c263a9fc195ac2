#!/usr/bin/env python
"""Paired rounds: OpenVINO vs ONNX Runtime vs eager PyTorch on one artifact, same pixels, same threads.

``python benchmarks/openvino_paired.py ARTIFACT [--threads 2] [--rounds 15 8] [-o out.json]``

Per batch size, each round runs eager once and then every candidate once, in an order rotated
every round, 0.1 s apart; a candidate's figure is the median over rounds of its time / eager's time
in the same round, so contention from other jobs hits both sides of a ratio ("x ORT fp32": the same
against ONNX Runtime fp32 of the same round). Cosine: pooled
embedding (or logits) vs eager on the same photos, minimum over the batch. Candidates are built
through the runtime (``open_runner``), i.e. exactly what ``load(..., backend=...)`` serves.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

GAP_S = 0.1
CANDIDATES = (  # (label, backend, precision)
    ("ORT fp32", "onnxruntime", "fp32"),
    ("ORT int8 (S8S8)", "onnxruntime", "int8-s8s8"),
    ("ORT int8-cpu", "onnxruntime", "int8-cpu"),
    ("OV fp32", "openvino", "fp32"),
    ("OV int8 (S8S8)", "openvino", "int8"),
    ("OV int8-cpu", "openvino", "int8-cpu"),
    ("OV bf16", "openvino", "bf16"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, nargs="+", default=[15, 8], help="rounds per batch size")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()

    import torch

    from ijepa_deploy.benchmarks.backends import load_torch_model
    from ijepa_deploy.benchmarks.machine import machine_info
    from ijepa_deploy.exporters.parity import compare_outputs, photo_batch
    from ijepa_deploy.exporters.reference import TorchRunner
    from ijepa_deploy.manifest import read_manifest
    from ijepa_deploy.runtime.model import open_runner
    from ijepa_deploy.runtime.onnxruntime_runner import OnnxRuntimeRunner
    from ijepa_deploy.runtime.preprocess import Preprocessor
    from ijepa_deploy.spec import primary_output

    torch.set_num_threads(args.threads)
    manifest = read_manifest(args.artifact)
    primary = primary_output(manifest.task)
    eager = TorchRunner(load_torch_model(manifest), manifest.io, 1, manifest.batch["max"])
    runners = {}
    for label, backend, precision in CANDIDATES:
        try:
            if precision == "int8-s8s8":  # load() on a CPU host maps ORT "int8" to int8-cpu; time S8S8 directly
                runners[label] = OnnxRuntimeRunner(args.artifact / manifest.graphs["int8"]["file"], manifest.io,
                                                   1, manifest.batch["max"], intra_op_threads=args.threads)
            else:
                runners[label] = open_runner(args.artifact, manifest, backend, precision, threads=args.threads)
        except Exception as exc:  # a missing graph or no bf16 here: reported, not fatal
            print(f"skip {label}: {exc}")
    pixels, _ = photo_batch(Preprocessor(manifest.preprocessing), max(args.batches))
    report = {"artifact": str(args.artifact), "threads": args.threads, "machine": machine_info(),
              "method": __doc__.split("\n\n")[1].replace("\n", " "), "batches": {}}
    for n, rounds in zip(args.batches, args.rounds):
        load_start = os.getloadavg()
        batch = np.ascontiguousarray(pixels[:n])
        ref = eager.run(batch)
        cosines = {k: compare_outputs(ref[primary], r.run(batch)[primary])["min_cosine"] for k, r in runners.items()}
        times: dict[str, list[float]] = {"eager": [], **{k: [] for k in runners}}
        labels = list(runners)
        for i in range(rounds):
            order = ["eager", *labels[i % len(labels):], *labels[:i % len(labels)]]
            for key in order:
                fn = eager.run if key == "eager" else runners[key].run
                time.sleep(GAP_S)
                t0 = time.perf_counter()
                fn(batch)
                times[key].append(time.perf_counter() - t0)
        eager_ms = float(np.median(times["eager"]) * 1000)
        rows = {}
        for key in runners:
            ratios = [c / e for c, e in zip(times[key], times["eager"])]
            vs_ort = [c / o for c, o in zip(times[key], times.get("ORT fp32", times[key]))]
            rows[key] = {"ratio": float(np.median(ratios)), "p50_ms": float(np.median(times[key]) * 1000),
                         "vs_ort_fp32": float(np.median(vs_ort)), "cosine": cosines[key], "round_ratios": ratios}
        load = [round(x, 2) for x in (*load_start, *os.getloadavg())]
        report["batches"][str(n)] = {"rounds": rounds, "eager_p50_ms": eager_ms, "rows": rows,
                                     "loadavg_start_end": load}
        print(f"\nbatch {n}: eager p50 {eager_ms:.0f} ms over {rounds} rounds; load average 1/5/15 min "
              f"{load[:3]} at start, {load[3:]} at end ({os.cpu_count()} CPUs)")
        print(f"{'candidate':<18} {'x eager':>8} {'x ORT fp32':>10} {'p50 ms':>8} {'cosine':>10}  "
              "x eager per round (min..max)")
        for key, row in rows.items():
            print(f"{key:<18} {row['ratio']:>8.3f} {row['vs_ort_fp32']:>10.3f} {row['p50_ms']:>8.1f} "
                  f"{row['cosine']:>10.6f}  "
                  f"{min(row['round_ratios']):.3f}..{max(row['round_ratios']):.3f}")
        extra = {k: getattr(r, "inference_precision", None) for k, r in runners.items()}
        report["batches"][str(n)]["inference_precision"] = extra
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()

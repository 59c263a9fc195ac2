"""``ijepa-bench`` reports: a versioned JSON document, the Markdown table people paste into PRs, and
PNG plots (latency, throughput and speed-up vs eager over the batch sweep), plus the targets
(ratios measured in the same run) with MET / MISSED per target.

JSON schema (``schema`` = "ijepa-deploy/bench", ``schema_version`` = 1). Top-level keys are listed
in :data:`REQUIRED_KEYS`; every row has :data:`ROW_KEYS` (``status`` "ok" | "unavailable" |
"failed", ``reason`` set unless ok) and each point :data:`POINT_KEYS`. New fields may be added
without a version bump; renaming or removing one bumps ``schema_version``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ijepa_deploy.errors import IJepaDeployError
from ijepa_deploy.exporters.benchmark import target_batches

SCHEMA = "ijepa-deploy/bench"
SCHEMA_VERSION = 1
REQUIRED_KEYS = ("schema", "schema_version", "created", "command", "artifact", "machine", "settings",
                 "flops", "gemm_peak", "rows", "targets", "paired", "preprocessing", "end_to_end", "memory",
                 "profiles")
ROW_KEYS = ("backend", "variant", "precision", "status", "reason", "points")
POINT_KEYS = ("batch", "iterations", "p50_ms", "p90_ms", "p99_ms", "throughput_img_s", "gflop_s",
              "peak_fraction", "latency_vs_eager", "parity")
ROW_STATUSES = ("ok", "unavailable", "failed")

# (id, description, limit): ratios measured in the same run, at these batch sizes.
TARGET_BATCHES = (1, 8)
ORT_LATENCY_MAX = 0.75
ORT_PEAK_MIN = 0.85
INT8_LATENCY_MAX = 0.30
INT8_COSINE_MIN = 0.995

PLOTS = {"latency": "latency_vs_batch.png", "throughput": "throughput_vs_batch.png",
         "speedup": "speedup_vs_eager.png"}


# -- targets ---------------------------------------------------------------------------------------

def _point(row: dict, batch: int) -> dict | None:
    return next((p for p in row.get("points", []) if p["batch"] == batch), None)


def _target(tid, description, batch, value, limit, op, backend, detail="") -> dict:
    if value is None:
        result = "N/A"
    else:
        result = "MET" if (value <= limit if op == "<=" else value >= limit) else "MISSED"
    return {"id": tid, "description": description, "batch": batch, "backend": backend, "value": value,
            "limit": limit, "comparison": op, "result": result, "detail": detail}


def evaluate_targets(report: dict) -> list[dict]:
    rows = report["rows"]
    sweep = report["settings"]["batch_sizes"]
    primary = report["settings"]["primary_output"]
    batches = target_batches(sweep, TARGET_BATCHES)
    paired = (report.get("paired") or {}).get("ratios", {})

    def latency_ratio(key: str, point: dict | None, b: int):
        """The paired (alternating A/B) ratio when measured, else the sweep's p50 ratio."""
        pair = paired.get(key, {}).get(str(b))
        sweep_ratio = point and point["latency_vs_eager"]
        if pair:
            note = f"paired A/B median of {len(pair['round_ratios'])} rounds; sweep p50 ratio " + \
                (f"{sweep_ratio:.3f}" if sweep_ratio else "n/a")
            return pair["ratio"], note
        return sweep_ratio, "sweep p50 ratio" if sweep_ratio else ""
    ort_fp32 = next((r for r in rows if r["backend"] == "onnxruntime-cpu" and r["variant"] == "fp32"
                     and r["status"] == "ok"), None)
    int8_rows = [r for r in rows if r["backend"] == "onnxruntime-cpu" and "int8" in str(r["variant"])]
    cpu_forms = [r for r in int8_rows if "cpu" in str(r["variant"])]
    if cpu_forms:  # the CPU target is about the graph made for CPUs (int8 proper is TensorRT's S8S8 form)
        int8_rows = cpu_forms
    targets = []
    for b in batches:
        p = _point(ort_fp32, b) if ort_fp32 else None
        value, note = latency_ratio("onnxruntime-cpu fp32", p, b)
        targets.append(_target("ort-fp32-latency", f"ONNX Runtime CPU fp32 latency <= {ORT_LATENCY_MAX} x eager "
                               "fp32", b, value, ORT_LATENCY_MAX, "<=",
                               "onnxruntime-cpu fp32", note if p else "no ONNX Runtime CPU fp32 row"))
        frac, note = p and p["peak_fraction"], "sweep p50" if p else "no ONNX Runtime CPU fp32 row"
        pair = paired.get("onnxruntime-cpu fp32", {}).get(str(b))
        peak = report["gemm_peak"].get("peak_gflop_s")
        if p and pair and peak:
            median_s = sorted(pair["candidate_ms"])[len(pair["candidate_ms"]) // 2] / 1000.0
            frac = report["flops"]["gflop_per_image"] * b / median_s / peak
            note = (f"paired-round median {median_s * 1000:,.0f} ms = {frac * peak:.0f} GFLOP/s vs peak {peak:.0f}; "
                    f"sweep p50 gives {p['peak_fraction']:.1%}")
        targets.append(_target("ort-fp32-gemm-peak", f"ONNX Runtime CPU fp32 GFLOP/s >= {ORT_PEAK_MIN:.0%} of "
                               "same-run GEMM peak", b, frac, ORT_PEAK_MIN, ">=", "onnxruntime-cpu fp32", note))
        if not int8_rows:
            targets.append(_target("int8-latency", f"CPU INT8 latency <= {INT8_LATENCY_MAX} x eager fp32", b, None,
                                   INT8_LATENCY_MAX, "<=", "onnxruntime-cpu int8*",
                                   "the artifact has no int8 graph (export with --int8)"))
            targets.append(_target("int8-cosine", f"CPU INT8 {primary} cosine vs eager >= {INT8_COSINE_MIN}", b,
                                   None, INT8_COSINE_MIN, ">=", "onnxruntime-cpu int8*",
                                   "the artifact has no int8 graph (export with --int8)"))
        for r in int8_rows:
            p = _point(r, b) if r["status"] == "ok" else None
            why = "" if p else f"row {r['status']}: {r.get('reason')}"
            name = f"onnxruntime-cpu {r['variant']}"
            value, note = latency_ratio(name, p, b)
            targets.append(_target("int8-latency", f"CPU INT8 latency <= {INT8_LATENCY_MAX} x eager fp32", b,
                                   value, INT8_LATENCY_MAX, "<=", name, why or note))
            cos = p and p["parity"].get(primary, {}).get("min_cosine")
            targets.append(_target("int8-cosine", f"CPU INT8 {primary} cosine vs eager >= {INT8_COSINE_MIN}", b,
                                   cos, INT8_COSINE_MIN, ">=", name, why))
    return targets


# -- JSON ------------------------------------------------------------------------------------------

def _clean(value):
    """JSON-safe: NaN/inf -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def finalize(report: dict) -> dict:
    report = dict(report)
    report["schema"] = SCHEMA
    report["schema_version"] = SCHEMA_VERSION
    report["targets"] = evaluate_targets(report)
    ordered = {k: report.get(k) for k in REQUIRED_KEYS}
    ordered.update({k: v for k, v in report.items() if k not in ordered})
    return _clean(ordered)


def validate_report(report: dict) -> None:
    """Raise IJepaDeployError when ``report`` does not follow schema_version 1."""
    where = "bench report"
    if report.get("schema") != SCHEMA or report.get("schema_version") != SCHEMA_VERSION:
        raise IJepaDeployError(where, f"schema {report.get('schema')!r} v{report.get('schema_version')!r}",
                               f"{SCHEMA} v{SCHEMA_VERSION}")
    missing = [k for k in REQUIRED_KEYS if k not in report]
    if missing:
        raise IJepaDeployError(where, f"missing keys {missing}", f"all of {REQUIRED_KEYS}")
    if not isinstance(report["rows"], list) or not report["rows"]:
        raise IJepaDeployError(where, "no rows", "one row per backend")
    for row in report["rows"]:
        lacking = [k for k in ROW_KEYS if k not in row]
        if lacking:
            raise IJepaDeployError(where, f"row {row.get('backend')} lacks {lacking}", f"{ROW_KEYS}")
        if row["status"] not in ROW_STATUSES:
            raise IJepaDeployError(where, f"row {row['backend']} status {row['status']!r}", f"one of {ROW_STATUSES}")
        if row["status"] != "ok" and not row["reason"]:
            raise IJepaDeployError(where, f"row {row['backend']} is {row['status']} without a reason",
                                   "a reason for every row that did not run")
        for point in row["points"]:
            lacking = [k for k in POINT_KEYS if k not in point]
            if lacking:
                raise IJepaDeployError(where, f"row {row['backend']} batch {point.get('batch')} lacks {lacking}",
                                       f"{POINT_KEYS}")
    for t in report["targets"]:
        if t["result"] not in ("MET", "MISSED", "N/A"):
            raise IJepaDeployError(where, f"target {t['id']} result {t['result']!r}", "MET, MISSED or N/A")


# -- Markdown --------------------------------------------------------------------------------------

def _f(value, fmt: str, none: str = "–") -> str:
    if value is None:
        return none
    return format(value, fmt)


def _ms(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.3f}"


def _cos(value) -> str:
    if value is None:
        return "–"
    return "1.000000" if value >= 1 - 5e-7 else f"{value:.6f}"


def machine_line(machine: dict, end=None) -> str:
    cpu = machine.get("cpu", {})
    flags = ", ".join(cpu.get("flags", [])) or "?"
    gpu = machine.get("gpu", {})
    gpu_text = "; ".join(gpu.get("devices", [])) if gpu.get("present") else f"none ({gpu.get('reason', '?')})"
    libs = ", ".join(f"{k} {v}" for k, v in machine.get("libraries", {}).items() if v)
    return (f"- CPU: {cpu.get('model')} (family {cpu.get('family')}, model {cpu.get('model_number')}"
            f"{', VM' if cpu.get('hypervisor') else ''}), {cpu.get('usable_cores')} usable cores "
            f"({cpu.get('physical_cores')} physical), {machine.get('memory_gib')} GiB RAM\n"
            f"- CPU flags: {flags}\n- GPU: {gpu_text}\n- Libraries: {libs}\n"
            f"- ONNX Runtime providers: {', '.join(machine.get('onnxruntime_providers', []))}; "
            f"torch CPU capability {machine.get('torch_cpu_capability', '?')}\n"
            f"- Load average (1/5/15 min) at start: {machine.get('loadavg_start')}"
            + (f", at end: {end}" if end else "") + " (other processes share these cores)")


def markdown(report: dict, plots: dict | None = None) -> str:
    s = report["settings"]
    a = report["artifact"]
    fl = report["flops"]
    peak = report["gemm_peak"]
    primary = s["primary_output"]
    lines = [f"# ijepa-bench: {a['model']} ({a['task']})", ""]
    if a.get("unverified"):
        lines += [f"**UNVERIFIED artifact (--allow-unverified): {a['unverified']}**", ""]
    lines += [f"Command: `{report['command']}`" if report.get("command") else "Command: (library call)", ""]
    lines += [f"Run {report['created']}, {report.get('wall_seconds', 0) / 60:.1f} min wall. Artifact `{a['path']}`: "
              f"graphs {', '.join(a['graphs']) or '-'}; engines {', '.join(a['engines']) or 'none'}; "
              f"input {a['input']['shape']}; {a.get('parameters') or 0:,} parameters; weights: {a['weights']}.", ""]
    lines += ["## Machine", "", machine_line(report["machine"], report.get("loadavg_end")), ""]
    meas = peak.get("measurements", {})
    gemm_bits = [f"{k} {v['shape']} {v['gflop_s']:.1f}" for k, v in meas.items() if "gflop_s" in v]
    lines += ["## Settings", "",
              f"- Threads: {s['threads']} ({s['thread_settings']}).",
              f"- Timing: warm-up {s['warmup']}, then >= {s['min_iterations']} iterations and >= "
              f"{s['min_seconds']:g} s per point (cap {s['max_iterations']}); latency percentiles over those "
              "iterations; throughput = batch / p50.",
              f"- Inputs: the same {len(s['inputs'])} preprocessed photos for every backend "
              f"({', '.join(s['inputs'][:8])}{', ...' if len(s['inputs']) > 8 else ''}); parity = "
              f"`{primary}` vs eager on the same batch (min cosine over images, max abs).",
              f"- ONNX Runtime session: graph optimization `{s['ort_graph_optimization_level']}`, memory arena "
              f"{'on' if s['ort_mem_arena'] else 'off'}"
              + (f", config {s['ort_config']}" if s.get("ort_config") else "") + ".",
              f"- Model cost: {fl['gflop_per_image']:.1f} GFLOP/image ({fl['tokens']} tokens; "
              f"{fl['formula']}).",
              f"- GEMM peak (fp32, measured in this run, GFLOP/s): {'; '.join(gemm_bits) or 'n/a'} -> "
              f"**peak {_f(peak.get('peak_gflop_s'), '.1f')}** ({peak.get('peak_source')}).", ""]
    lines += [f"## Latency, throughput, roofline and parity (p50 over the iterations; parity of `{primary}` "
              "vs eager on the same inputs)", ""]
    header = ("| backend | graph | batch | iters | p50 ms | p90 ms | p99 ms | img/s | GFLOP/s | % GEMM peak "
              "| latency / eager | cosine vs eager | max abs vs eager | CPU stall |")
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for row in report["rows"]:
        if row["status"] != "ok":
            continue
        for p in row["points"]:
            par = p["parity"].get(primary, {})
            lines.append(
                f"| {row['backend']} | {row['variant']} | {p['batch']} | {p['iterations']} | {_ms(p['p50_ms'])} | "
                f"{_ms(p['p90_ms'])} | {_ms(p['p99_ms'])} | {p['throughput_img_s']:.2f} | {p['gflop_s']:.1f} | "
                f"{_f(p['peak_fraction'] and 100 * p['peak_fraction'], '.0f')}% | "
                f"{_f(p['latency_vs_eager'], '.3f')} | {_cos(par.get('min_cosine'))} | "
                f"{_f(par.get('max_abs'), '.2e')} | {_f(p.get('cpu_stall_fraction'), '.0%')} |")
        if row.get("skipped_batches"):
            lines.append(f"| {row['backend']} | {row['variant']} | {', '.join(map(str, row['skipped_batches']))} | "
                         f"skipped: {row['skip_reason']} |" + " |" * 10)
    lines += ["", "CPU stall = Linux PSI `/proc/pressure/cpu` 'some' time during the point / its wall time: "
              "the share of time runnable work waited for a core (other processes on these cores). "
              "Points with a high stall are slowed by the machine, not by the backend."]
    others = [r for r in report["rows"] if r["status"] != "ok"]
    if others:
        lines += ["", "Rows that did not run here:", "", "| backend | graph | status | reason |",
                  "|---|---|---|---|"]
        for r in others:
            lines.append(f"| {r['backend']} | {r['variant']} | {r['status']} | {r['reason']} |")
    lines += ["", "## Targets (ratios measured in this run)", "",
              "| target | backend | batch | measured | limit | result |", "|---|---|---|---|---|---|"]
    for t in report["targets"]:
        val = _f(t["value"], ".4f" if "cosine" in t["id"] else ".3f")
        if t["id"] == "ort-fp32-gemm-peak" and t["value"] is not None:
            val = f"{t['value']:.1%}"
        limit = f"{t['comparison']} {t['limit']:.0%}" if t["id"] == "ort-fp32-gemm-peak" else \
            f"{t['comparison']} {t['limit']}"
        result = f"**{t['result']}**" + (f" ({t['detail']})" if t.get("detail") else "")
        lines.append(f"| {t['description']} | {t['backend']} | {t['batch']} | {val} | {limit} | {result} |")
    pr = report.get("paired") or {}
    if pr.get("ratios"):
        lines += ["", f"Paired A/B ({pr['method']}; {pr['rounds']} rounds):", "",
                  "| backend | batch | ratio (median) | per-round ratios | eager ms per round | backend ms per round |",
                  "|---|---|---|---|---|---|"]
        for key, per in pr["ratios"].items():
            for b, r in per.items():
                lines.append(f"| {key} | {b} | {r['ratio']:.3f} | {', '.join(f'{x:.3f}' for x in r['round_ratios'])} | "
                             f"{', '.join(_ms(x) for x in r['eager_ms'])} | {', '.join(_ms(x) for x in r['candidate_ms'])} |")
    elif pr.get("error"):
        lines += ["", f"Paired A/B failed: {pr['error']}"]
    lines += ["", "## Load time and memory", "",
              "| backend | graph | load s (in run) | compile s | load s (fresh process) | RSS before load GiB | "
              "peak RSS GiB (load + batch-1 run) |", "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        if r["status"] != "ok":
            continue
        m = r.get("memory") or {}
        lines.append(f"| {r['backend']} | {r['variant']} | {_f(r.get('load_seconds'), '.2f')} | "
                     f"{_f(r.get('compile_seconds'), '.1f')} | {_f(m.get('load_seconds'), '.2f')} | "
                     f"{_f(m.get('baseline_rss_gib'), '.2f')} | "
                     f"{_f(m.get('peak_rss_gib'), '.2f') if 'error' not in m else m['error']} |")
    mem = report.get("memory") or {}
    lines += ["", f"{mem.get('note', '')}. Benchmark process peak RSS: "
              f"{_f(mem.get('process_peak_rss_gib'), '.2f')} GiB.", ""]
    pre = report.get("preprocessing") or {}
    if pre:
        lines += ["## Preprocessing and end-to-end", "", f"Preprocessing: {pre['what']}.", "",
                  "| input | p50 ms | p90 ms | img/s |", "|---|---|---|---|"]
        for name, st in pre.get("per_file", {}).items():
            lines.append(f"| {name} ({st['source_size'][0]}x{st['source_size'][1]}) | {_ms(st['p50_ms'])} | "
                         f"{_ms(st['p90_ms'])} | {st['throughput_img_s']:.1f} |")
        for n, st in pre.get("per_batch", {}).items():
            lines.append(f"| batch of {n} files | {_ms(st['p50_ms'])} | {_ms(st['p90_ms'])} | "
                         f"{st['throughput_img_s']:.1f} |")
    e2e = report.get("end_to_end") or {}
    if e2e.get("per_batch"):
        lines += ["", f"End-to-end: {e2e['what']}; graph {e2e['graph']}; `load()` took "
                  f"{e2e['load_seconds']:.2f} s.", "", "| batch | iters | p50 ms | p90 ms | img/s |",
                  "|---|---|---|---|---|"]
        for n, st in e2e["per_batch"].items():
            lines.append(f"| {n} | {st['iterations']} | {_ms(st['p50_ms'])} | {_ms(st['p90_ms'])} | "
                         f"{st['throughput_img_s']:.2f} |")
    elif e2e.get("error"):
        lines += ["", f"End-to-end: failed ({e2e['error']})"]
    compile_row = next((r for r in report["rows"] if r["backend"] == "torch-compile" and r["status"] == "ok"), None)
    if compile_row and compile_row.get("first_call_seconds"):
        firsts = ", ".join(f"batch {b}: {v:.1f} s" for b, v in compile_row["first_call_seconds"].items())
        lines += ["", f"torch.compile first calls (compile + run): {firsts}."]
    if report.get("profiles"):
        lines += ["", "## ONNX Runtime profile (per op type, kernel time per run)", ""]
        for name, prof in report["profiles"].items():
            if "error" in prof:
                lines.append(f"- {name}: profiling failed ({prof['error']})")
                continue
            for batch, summary in prof.items():
                lines += [f"**{name}, batch {batch}**: model_run {_ms(summary['model_run_ms'])} ms, kernels "
                          f"{_ms(summary['kernel_ms_per_run'])} ms per run ({summary['runs']} runs).", "",
                          "| op type | ms/run | share | nodes/run | GFLOP/s (matmuls) | provider |",
                          "|---|---|---|---|---|---|"]
                for op in summary["op_types"][:12]:
                    lines.append(f"| {op['op_type']} | {_ms(op['ms_per_run'])} | {op['share']:.1%} | "
                                 f"{op['nodes_per_run']:.0f} | {_f(op['gflop_s'], '.1f')} | "
                                 f"{', '.join(op['providers'])} |")
                if summary.get("matmul_shapes"):
                    lines += ["", "| matmul op | input shapes | ms/run | share | nodes/run | GFLOP/s |",
                              "|---|---|---|---|---|---|"]
                    for m in summary["matmul_shapes"][:8]:
                        lines.append(f"| {m['op_type']} | {m['shapes']} | {_ms(m['ms_per_run'])} | {m['share']:.1%} | "
                                     f"{m['nodes_per_run']:.0f} | {_f(m['gflop_s'], '.1f')} |")
                lines.append("")
    if plots:
        lines += ["", "## Plots", ""]
        for key, path in plots.items():
            lines.append(f"![{key}]({Path(path).name})")
    return "\n".join(lines).rstrip() + "\n"


# -- plots -----------------------------------------------------------------------------------------

def write_plots(report: dict, out_dir: Path) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    series = [(f"{r['backend']} {r['variant']}", r["points"]) for r in report["rows"]
              if r["status"] == "ok" and r["points"]]
    title = f"{report['artifact']['model']} — {report['settings']['threads']} threads"
    written = {}
    specs = {
        "latency": ("p50 latency (ms)", lambda p: p["p50_ms"], True),
        "throughput": ("throughput (img/s, batch / p50)", lambda p: p["throughput_img_s"], False),
        "speedup": ("speed-up vs eager PyTorch (eager p50 / p50)",
                    lambda p: (1.0 / p["latency_vs_eager"]) if p.get("latency_vs_eager") else None, False),
    }
    for key, (ylabel, getter, logy) in specs.items():
        fig, ax = plt.subplots(figsize=(9.5, 4.8), dpi=110)
        for label, points in series:
            xs = [p["batch"] for p in points if getter(p) is not None]
            ys = [getter(p) for p in points if getter(p) is not None]
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
        if key == "speedup":
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log", base=2)
        batches = sorted({p["batch"] for _, points in series for p in points})
        if batches:
            ax.set_xticks(batches, [str(b) for b in batches])
            ax.minorticks_off()
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        fig.tight_layout()
        path = out_dir / PLOTS[key]
        fig.savefig(path)
        plt.close(fig)
        written[key] = str(path)
    return written


def write_report(report: dict, out_dir: Path) -> dict:
    """Write report.json, report.md and the plots into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = finalize(report)
    validate_report(report)
    plots = write_plots(report, out_dir)
    report["plots"] = {k: Path(v).name for k, v in plots.items()}
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path = out_dir / "report.md"
    md_path.write_text(markdown(report, plots))
    return {"json": json_path, "markdown": md_path, **{k: Path(v) for k, v in plots.items()}, "report": report}

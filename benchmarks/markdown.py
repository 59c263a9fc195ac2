"""The Markdown report people paste into PRs, one function per section."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ijepa_deploy.benchmarks.machine import STALL_LIMIT, stalled
from ijepa_deploy.benchmarks.markdown_opt_in import cpp_section, serving_section
from ijepa_deploy.benchmarks.targets import ORT_FP32, versus_rounds


def _f(value, fmt: str, none: str = "–") -> str:
    if value is None:
        return none
    return format(value, fmt)


def _ms(value) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.3f}"


def row_name(row: dict) -> str:
    """The backend column: rows benchmarked on --allow-unverified say so wherever they appear."""
    return f"{row['backend']} (UNVERIFIED)" if row.get("unverified") else row["backend"]


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
    return (
        f"- CPU: {cpu.get('model')} (family {cpu.get('family')}, model {cpu.get('model_number')}"
        f"{', VM' if cpu.get('hypervisor') else ''}), {cpu.get('usable_cores')} usable cores "
        f"({cpu.get('physical_cores')} physical), {machine.get('memory_gib')} GiB RAM\n"
        f"- CPU flags: {flags}\n- GPU: {gpu_text}\n- Libraries: {libs}\n"
        f"- ONNX Runtime providers: {', '.join(machine.get('onnxruntime_providers', []))}; "
        f"torch CPU capability {machine.get('torch_cpu_capability', '?')}\n"
        f"- Load average (1/5/15 min) at start: {machine.get('loadavg_start')}"
        + (f", at end: {end}" if end else "")
        + " (other processes share these cores)"
    )


def markdown(report: dict, plots: dict | None = None) -> str:
    lines: list[str] = []
    for section in (
        _header,
        _settings,
        _latency_table,
        _targets,
        _paired,
        _memory,
        _preprocessing_and_end_to_end,
        cpp_section,
        serving_section,
        _profiles,
    ):
        lines += section(report)
    if plots:
        lines += ["", "## Plots", ""]
        for key, path in plots.items():
            lines.append(f"![{key}]({Path(path).name})")
    return "\n".join(lines).rstrip() + "\n"


def _header(report: dict) -> list[str]:
    """Title, command and artifact."""
    a = report["artifact"]
    lines = [f"# ijepa-bench: {a['model']} ({a['task']})", ""]
    if a.get("unverified"):
        lines += [f"**UNVERIFIED artifact (--allow-unverified): {a['unverified']}**", ""]
    for row in report["rows"]:
        if row.get("unverified"):
            lines += [
                f"**UNVERIFIED row {row['backend']} {row['variant']} (--allow-unverified): {row['unverified']}**",
                "",
            ]
    lines += [f"Command: `{report['command']}`" if report.get("command") else "Command: (library call)", ""]
    lines += [
        f"Run {report['created']}, {report.get('wall_seconds', 0) / 60:.1f} min wall. Artifact `{a['path']}`: "
        f"graphs {', '.join(a['graphs']) or '-'}; engines {', '.join(a['engines']) or 'none'}; "
        f"input {a['input']['shape']}; {a.get('parameters') or 0:,} parameters; weights: {a['weights']}.",
        "",
    ]
    return lines


def _bf16_peak(bf16: dict) -> str:
    bits = [f"{k} {v['shape']} {v['gflop_s']:.1f}" for k, v in bf16.get("measurements", {}).items() if "gflop_s" in v]
    if not bits:
        return f"n/a ({bf16.get('skipped', 'not measured')})."
    return (
        f"{'; '.join(bits)} -> **peak {_f(bf16.get('peak_gflop_s'), '.1f')}** ({bf16.get('peak_source')}); "
        "bf16 rows' % GEMM peak is against it."
    )


def _settings(report: dict) -> list[str]:
    """Machine, settings, model cost and GEMM peak."""
    s, fl, peak = report["settings"], report["flops"], report["gemm_peak"]
    primary = s["primary_output"]
    lines: list[str] = []
    lines += ["## Machine", "", machine_line(report["machine"], report.get("loadavg_end")), ""]
    meas = peak.get("measurements", {})
    gemm_bits = [f"{k} {v['shape']} {v['gflop_s']:.1f}" for k, v in meas.items() if "gflop_s" in v]
    int8 = peak.get("int8") or {}
    int8_bits = [f"{k} {v['shape']} {v['gop_s']:.1f}" for k, v in int8.get("measurements", {}).items() if "gop_s" in v]
    bf16 = peak.get("bf16") or {}
    lines += [
        "## Settings",
        "",
        f"- Threads: {s['threads']} ({s['thread_settings']}).",
        f"- Timing: warm-up {s['warmup']}, then >= {s['min_iterations']} iterations and >= "
        f"{s['min_seconds']:g} s per point (cap {s['max_iterations']}); latency percentiles over those "
        "iterations; throughput = batch / p50.",
        f"- Inputs: the same {len(s['inputs'])} preprocessed photos for every backend "
        f"({', '.join(s['inputs'][:8])}{', ...' if len(s['inputs']) > 8 else ''}); parity = "
        f"`{primary}` vs eager on the same batch (min cosine over images, max abs).",
        f"- ONNX Runtime session: graph optimization `{s['ort_graph_optimization_level']}`, memory arena "
        f"{'on' if s['ort_mem_arena'] else 'off'}"
        + (f", config {s['ort_config']}" if s.get("ort_config") else "")
        + ".",
        f"- Model cost: {fl['gflop_per_image']:.1f} GFLOP/image ({fl['tokens']} tokens; {fl['formula']}).",
        f"- GEMM peak (fp32, measured in this run, GFLOP/s): {'; '.join(gemm_bits) or 'n/a'} -> "
        f"**peak {_f(peak.get('peak_gflop_s'), '.1f')}** ({peak.get('peak_source')}).",
        f"- INT8 GEMM peak (VNNI/AMX where the CPU has them, measured in this run, GOP/s): "
        f"{'; '.join(int8_bits) or 'n/a'} -> **peak {_f(int8.get('peak_gop_s'), '.1f')}** "
        f"({int8.get('peak_source')}); INT8 rows' % GEMM peak is against it.",
        "- bf16 GEMM peak (AVX512_BF16/AMX, measured in this run, GFLOP/s): "
        + _bf16_peak(bf16)
        + " Every other row is against the fp32 peak.",
        "",
    ]
    return lines


def _latency_table(report: dict) -> list[str]:
    """One line per (row, batch): latency, roofline, parity; then rows that did not run."""
    primary = report["settings"]["primary_output"]
    lines: list[str] = []
    lines += [
        f"## Latency, throughput, roofline and parity (p50 over the iterations; parity of `{primary}` "
        "vs eager on the same inputs)",
        "",
    ]
    header = (
        "| backend | graph | batch | iters | p50 ms | p90 ms | p99 ms | img/s | GFLOP/s | % GEMM peak "
        "| latency / eager | cosine vs eager | max abs vs eager | CPU stall |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for row in report["rows"]:
        if row["status"] != "ok":
            continue
        for p in row["points"]:
            par = p["parity"].get(primary, {})
            lines.append(
                f"| {row_name(row)} | {row['variant']} | {p['batch']} | {p['iterations']} | {_ms(p['p50_ms'])} | "
                f"{_ms(p['p90_ms'])} | {_ms(p['p99_ms'])} | {p['throughput_img_s']:.2f} | {p['gflop_s']:.1f} | "
                f"{_f(p['peak_fraction'] and 100 * p['peak_fraction'], '.0f')}% | "
                f"{_f(p['latency_vs_eager'], '.3f')} | {_cos(par.get('min_cosine'))} | "
                f"{_f(par.get('max_abs'), '.2e')} | {_f(p.get('cpu_stall_fraction'), '.0%')} |"
            )
        if row.get("skipped_batches"):
            lines.append(
                f"| {row_name(row)} | {row['variant']} | {', '.join(map(str, row['skipped_batches']))} | "
                f"skipped: {row['skip_reason']} |" + " |" * 10
            )
    lines += [
        "",
        "CPU stall = Linux PSI `/proc/pressure/cpu` 'some' time during the point / its wall time: "
        "the share of time runnable work waited for a core (other processes on these cores). "
        "Points with a high stall are slowed by the machine, not by the backend.",
    ]
    lines += _stall_notes(report)
    others = [r for r in report["rows"] if r["status"] != "ok"]
    if others:
        lines += ["", "Rows that did not run here:", "", "| backend | graph | status | reason |", "|---|---|---|---|"]
        for r in others:
            lines.append(f"| {row_name(r)} | {r['variant']} | {r['status']} | {r['reason']} |")
    return lines


def _stall_notes(report: dict) -> list[str]:
    """Which points ran above the stall limit (hollow in the plots) and which were measured twice."""
    marked, again = [], []
    for row in (r for r in report["rows"] if r["status"] == "ok"):
        for p in row["points"]:
            name = f"{row['backend']} {row['variant']} batch {p['batch']}"
            if stalled(p):
                marked.append(f"{name} ({p['cpu_stall_fraction']:.0%})")
            if p.get("attempts"):
                tries = "; ".join(
                    f"p50 {_ms(a['p50_ms'])} ms at {_f(a['cpu_stall_fraction'], '.0%')} stall"
                    + (" (kept)" if a["kept"] else "")
                    for a in p["attempts"]
                )
                again.append(f"{name}: {tries}")
    lines = [
        "",
        f"Points with CPU stall > {STALL_LIMIT:.0%} (drawn hollow in the latency and throughput plots): "
        + (", ".join(marked) if marked else "none")
        + ".",
    ]
    if again:
        lines += [
            "",
            "Measured twice because the first attempt's stall was over the limit (the attempt with "
            "the lower stall is the table's point):",
            "",
        ] + [f"- {a}" for a in again]
    return lines


def _targets(report: dict) -> list[str]:
    """MET / MISSED / N/A per target."""
    lines: list[str] = []
    lines += [
        "",
        "## Targets (ratios measured in this run)",
        "",
        "| target | backend | batch | measured | limit | result |",
        "|---|---|---|---|---|---|",
    ]
    for t in report["targets"]:
        val, limit = _target_value(t, t["value"]), _target_value(t, t["limit"], limit=True)
        result = f"**{t['result']}**" + (f" ({t['detail']})" if t.get("detail") else "")
        lines.append(
            f"| {t['description']} | {t['backend']} | {t['batch']} | {val} | {t['comparison']} {limit} | {result} |"
        )
    return lines


def _target_value(target: dict, value, limit: bool = False) -> str:
    """A target's value or limit in its measure's unit (see targets.TargetSpec.measure)."""
    if value is None:
        return "–"
    measure = target.get("measure") or (
        "cosine" if "cosine" in target["id"] else "peak" if target["id"].endswith("gemm-peak") else ""
    )
    if measure == "peak":
        return f"{value:.0%}" if limit else f"{value:.1%}"
    if limit:
        return f"{value:g}" + ("x" if measure == "faster-than" else "")
    if measure == "cosine":
        return f"{value:.6f}" if value < 1 - 5e-7 else "1.000000"
    if measure == "faster-than":
        return f"{value:.2f}x"
    return f"{value:.3f}"


def _paired(report: dict) -> list[str]:
    """The paired A/B rounds behind the target ratios and the speed-up plot; each backend also
    against ONNX Runtime fp32 of the same rounds."""
    lines: list[str] = []
    pr = report.get("paired") or {}
    if pr.get("ratios"):
        ort = pr["ratios"].get(ORT_FP32, {})
        lines += [
            "",
            f"Paired A/B ({pr['method']}; {pr['rounds']} rounds; x ORT fp32 = median over rounds of "
            f"the backend's ratio / {ORT_FP32}'s ratio of the same round):",
            "",
            "| backend | batch | ratio (median) | per-round ratios | x ORT fp32 | eager ms per round "
            "| backend ms per round |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, per in pr["ratios"].items():
            for b, r in per.items():
                vs_ort = versus_rounds(r, ort.get(b))
                x_ort = _f(float(np.median(vs_ort)), ".3f") if vs_ort else "–"
                lines.append(
                    f"| {key} | {b} | {r['ratio']:.3f} | {', '.join(f'{x:.3f}' for x in r['round_ratios'])} | "
                    f"{x_ort} | {', '.join(_ms(x) for x in r['eager_ms'])} | "
                    f"{', '.join(_ms(x) for x in r['candidate_ms'])} |"
                )
        if len(pr.get("groups", [])) > 1:
            lines += [
                "",
                "Candidates shared rounds in memory groups (all at once would not fit): "
                + "; ".join(", ".join(group) for group in pr["groups"])
                + ".",
            ]
    elif pr.get("error"):
        lines += ["", f"Paired A/B failed: {pr['error']}"]
    return lines


def _memory(report: dict) -> list[str]:
    """Load time and peak RSS per backend."""
    lines: list[str] = []
    lines += [
        "",
        "## Load time and memory",
        "",
        "| backend | graph | load s (in run) | compile s | load s (fresh process) | RSS before load GiB | "
        "peak RSS GiB (load + batch-1 run) | after the run: anonymous / file-backed GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if r["status"] != "ok":
            continue
        m = r.get("memory") or {}
        lines.append(
            f"| {row_name(r)} | {r['variant']} | {_f(r.get('load_seconds'), '.2f')} | "
            f"{_f(r.get('compile_seconds'), '.1f')} | {_f(m.get('load_seconds'), '.2f')} | "
            f"{_f(m.get('baseline_rss_gib'), '.2f')} | "
            f"{_f(m.get('peak_rss_gib'), '.2f') if 'error' not in m else m['error']} | "
            f"{_f(m.get('anon_rss_gib'), '.2f')} / {_f(m.get('file_rss_gib'), '.2f')} |"
        )
    mem = report.get("memory") or {}
    lines += [
        "",
        "Anonymous memory is the process's own; file-backed pages (a memory-mapped OpenVINO IR) are "
        "shared by every process that maps the same file and can be reclaimed by the kernel.",
        "",
        f"{mem.get('note', '')}. Benchmark process peak RSS: {_f(mem.get('process_peak_rss_gib'), '.2f')} GiB.",
        "",
    ]
    return lines


def _preprocessing_and_end_to_end(report: dict) -> list[str]:
    """Preprocessing, end to end, torch.compile first calls."""
    lines: list[str] = []
    pre = report.get("preprocessing") or {}
    if pre:
        lines += [
            "## Preprocessing and end-to-end",
            "",
            f"Preprocessing: {pre['what']}.",
            "",
            "| input | p50 ms | p90 ms | img/s |",
            "|---|---|---|---|",
        ]
        for name, st in pre.get("per_file", {}).items():
            lines.append(
                f"| {name} ({st['source_size'][0]}x{st['source_size'][1]}) | {_ms(st['p50_ms'])} | "
                f"{_ms(st['p90_ms'])} | {st['throughput_img_s']:.1f} |"
            )
        for n, st in pre.get("per_batch", {}).items():
            lines.append(
                f"| batch of {n} files | {_ms(st['p50_ms'])} | {_ms(st['p90_ms'])} | {st['throughput_img_s']:.1f} |"
            )
    e2e = report.get("end_to_end") or {}
    if e2e.get("per_batch"):
        lines += [
            "",
            f"End-to-end: {e2e['what']}; graph {e2e['graph']}; `load()` took {e2e['load_seconds']:.2f} s.",
            "",
            "| batch | iters | p50 ms | p90 ms | img/s |",
            "|---|---|---|---|---|",
        ]
        for n, st in e2e["per_batch"].items():
            lines.append(
                f"| {n} | {st['iterations']} | {_ms(st['p50_ms'])} | {_ms(st['p90_ms'])} | "
                f"{st['throughput_img_s']:.2f} |"
            )
    elif e2e.get("error"):
        lines += ["", f"End-to-end: failed ({e2e['error']})"]
    compile_row = next((r for r in report["rows"] if r["backend"] == "torch-compile" and r["status"] == "ok"), None)
    if compile_row and compile_row.get("first_call_seconds"):
        firsts = ", ".join(f"batch {b}: {v:.1f} s" for b, v in compile_row["first_call_seconds"].items())
        lines += ["", f"torch.compile first calls (compile + run): {firsts}."]
    return lines


def _profiles(report: dict) -> list[str]:
    """ONNX Runtime profiles per op type and matmul shape."""
    lines: list[str] = []
    if report.get("profiles"):
        lines += ["", "## ONNX Runtime profile (per op type, kernel time per run)", ""]
        for name, prof in report["profiles"].items():
            if "error" in prof:
                lines.append(f"- {name}: profiling failed ({prof['error']})")
                continue
            for batch, summary in prof.items():
                lines += [
                    f"**{name}, batch {batch}**: model_run {_ms(summary['model_run_ms'])} ms, kernels "
                    f"{_ms(summary['kernel_ms_per_run'])} ms per run ({summary['runs']} runs).",
                    "",
                    "| op type | ms/run | share | nodes/run | GFLOP/s (matmuls) | provider |",
                    "|---|---|---|---|---|---|",
                ]
                for op in summary["op_types"][:12]:
                    lines.append(
                        f"| {op['op_type']} | {_ms(op['ms_per_run'])} | {op['share']:.1%} | "
                        f"{op['nodes_per_run']:.0f} | {_f(op['gflop_s'], '.1f')} | "
                        f"{', '.join(op['providers'])} |"
                    )
                if summary.get("matmul_shapes"):
                    lines += [
                        "",
                        "| matmul op | input shapes | ms/run | share | nodes/run | GFLOP/s |",
                        "|---|---|---|---|---|---|",
                    ]
                    for m in summary["matmul_shapes"][:8]:
                        lines.append(
                            f"| {m['op_type']} | {m['shapes']} | {_ms(m['ms_per_run'])} | {m['share']:.1%} | "
                            f"{m['nodes_per_run']:.0f} | {_f(m['gflop_s'], '.1f')} |"
                        )
                lines.append("")
    return lines

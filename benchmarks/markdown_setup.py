"""report.md sections saying what ran where: title, command, artifact, machine, settings and GEMM peaks."""

from __future__ import annotations

from ijepa_deploy.benchmarks.markdown_cells import fmt


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


def header_section(report: dict) -> list[str]:
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
        f"{'; '.join(bits)} -> **peak {fmt(bf16.get('peak_gflop_s'), '.1f')}** ({bf16.get('peak_source')}); "
        "bf16 rows' % GEMM peak is against it."
    )


def settings_section(report: dict) -> list[str]:
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
        f"**peak {fmt(peak.get('peak_gflop_s'), '.1f')}** ({peak.get('peak_source')}).",
        f"- INT8 GEMM peak (VNNI/AMX where the CPU has them, measured in this run, GOP/s): "
        f"{'; '.join(int8_bits) or 'n/a'} -> **peak {fmt(int8.get('peak_gop_s'), '.1f')}** "
        f"({int8.get('peak_source')}); INT8 rows' % GEMM peak is against it.",
        "- bf16 GEMM peak (AVX512_BF16/AMX, measured in this run, GFLOP/s): "
        + _bf16_peak(bf16)
        + " Every other row is against the fp32 peak.",
        "",
    ]
    return lines

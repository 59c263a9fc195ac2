"""report.md sections of the opt-in measurements: ``--cpp`` (C++ vs Python runtime) and
``--serve`` (served vs direct). Each returns no lines when its measurement was not asked for."""

from __future__ import annotations

from ijepa_deploy.benchmarks.markdown_cells import fmt_ms


def _rounds(values, fmt=".3f") -> str:
    return ", ".join(format(v, fmt) for v in values)


def cpp_section(report: dict) -> list[str]:
    """C++ vs Python end to end and preprocessing, paired rounds."""
    cpp = report.get("cpp")
    if cpp is None:
        return []
    lines = ["", "## C++ runtime vs Python runtime (--cpp)", ""]
    if "error" in cpp:
        return [*lines, f"Not measured: {cpp['error']}"]
    engine = "same engine" if cpp["same_engine"] else "**different engines**"
    lines += [
        f"{cpp['what']}. C++: `ijepa::Model` on {cpp['cpp_backend']} (graph {cpp['cpp_variant']}); Python: "
        f"`runtime.load(backend={cpp['python_backend']!r})` (graph {cpp['graph']}); {engine}: {cpp['note']}. "
        f"{cpp['threads']} inference threads each side; images {', '.join(cpp['images'])}.",
        f"Method: {cpp['method']}; {cpp['rounds']} rounds. Pipe round trip "
        f"{cpp['pipe_roundtrip_ms']:.3f} ms (not in the C++ times). Load (with checksums): Python "
        f"{cpp['load_seconds']['python']:.2f} s, C++ {cpp['load_seconds']['cpp']:.2f} s.",
        "",
        "| measurement | batch | Python ms/image | C++ ms/image | Python img/s | C++ img/s | C++ / Python "
        "(median) | per-round ratios |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [("end to end", e) for e in cpp["end_to_end"].values()]
    if cpp.get("preprocessing"):
        rows.append(("preprocessing only", cpp["preprocessing"]))
    for name, e in rows:
        lines.append(
            f"| {name} | {e['batch']} | {fmt_ms(e['python_ms_per_image'])} | {fmt_ms(e['cpp_ms_per_image'])} | "
            f"{e['python_img_s']:.1f} | {e['cpp_img_s']:.1f} | {e['cpp_over_python']:.3f} | "
            f"{_rounds(e['round_ratios'])} |"
        )
    par = cpp.get("parity") or {}
    if par:
        lines += [
            "",
            f"Parity C++ vs Python on the same {par['images']} files (`{par['output']}`): min cosine "
            f"{par['min_cosine']:.6f}, max abs {par['max_abs']:.2e}.",
        ]
    return lines


def serving_section(report: dict) -> list[str]:
    """Served vs direct throughput and latency per client count."""
    sv = report.get("serving")
    if sv is None:
        return []
    lines = ["", "## Served (Triton) vs direct (--serve)", ""]
    if "error" in sv:
        return [*lines, f"Not measured: {sv['error']}"]
    srv = sv["server"]
    lines += [
        f"{sv['what']}. Backend {sv['backend']}, precision {sv['precision']}; server on {srv['address']}, "
        f"max batch {srv['max_batch']}, max queue delay {srv['max_queue_delay_us']} us, "
        f"{srv['preprocess_instances']} preprocessing instances, {srv['instances']} model instance(s); "
        f"started in {srv['start_seconds']:.1f} s.",
        f"Method: {sv['method']}; {sv['rounds']} rounds, {sv['requests_per_client']} requests per client "
        "per round; latency percentiles over every served request of all rounds.",
        "",
        "| clients | requests | served img/s | direct img/s (batch = clients) | served / direct (median) | "
        "per-round ratios | p50 ms | p99 ms | mean batch (Triton) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for e in sv["per_clients"].values():
        mean_batch = "–" if e["mean_batch"] is None else f"{e['mean_batch']:.2f}"
        lines.append(
            f"| {e['clients']} | {e['requests']} | {e['served_img_s']:.2f} | {e['direct_img_s']:.2f} | "
            f"{e['served_over_direct']:.3f} | {_rounds(e['round_ratios'])} | {fmt_ms(e['p50_ms'])} | "
            f"{fmt_ms(e['p99_ms'])} | {mean_batch} |"
        )
    return lines

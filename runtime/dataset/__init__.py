"""Embedding a whole corpus: ``ijepa-embed-dataset`` as a library.

    from ijepa_deploy.runtime.dataset import DatasetOptions, embed_dataset
    summary = embed_dataset(DatasetOptions("artifacts/vitb16", ["photos/"], Path("vectors/")))

Modules, one job each: ``inputs`` (the listing), ``output`` (the Parquet contract and resume
state), ``decode`` (one chunk of rows to pixels or error rows), ``collect`` (rows to committed
parts), ``local`` (decode workers + inference loop), ``ray_engine`` (Ray Data), ``job`` (one run).
Needs the ``dataset`` extra (pyarrow, tqdm); ``--engine ray`` the ``ray`` extra.
"""

from ijepa_deploy.errors import BackendUnavailable

try:
    import pyarrow  # noqa: F401
except ModuleNotFoundError as exc:
    raise BackendUnavailable(
        "ijepa_deploy.runtime.dataset", f"needs pyarrow ({exc})", "pip install 'ijepa-deploy[dataset]'"
    ) from None

from ijepa_deploy.runtime.dataset.job import DatasetOptions, Summary, embed_dataset  # noqa: E402

__all__ = ["DatasetOptions", "Summary", "embed_dataset"]

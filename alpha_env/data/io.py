"""Read one table file (CSV, CSV.gz, TSV or Parquet) into a DataFrame, with errors that name the file.

The lowest floor of :mod:`alpha_env.data`: the price, sector and news readers all go through
:func:`read_table`, and it imports no other module of the package.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from alpha_env.errors import DataError

__all__ = ["read_table"]


def read_table(path: str | Path, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV / CSV.gz / TSV / Parquet file into a DataFrame.

    Raises:
        DataError: missing file, empty file, unreadable content, e.g. a truncated or corrupt ``.gz``
            (never a raw pandas, gzip or zlib error).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a folder, expected a file")
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty")
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            df = pd.read_parquet(p, columns=list(columns) if columns else None)
        else:
            sep = "\t" if name.endswith(".tsv") else ","
            df = pd.read_csv(p, sep=sep, usecols=list(columns) if columns else None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: the file is empty") from None
    except EOFError:
        raise DataError(f"{p}: the compressed file is truncated (it ends before its end-of-stream "
                        "marker); download or copy it again") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError, zlib.error) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{p}: cannot read the file ({first})") from None
    if len(df.columns) == 0:
        raise DataError(f"{p}: the file is empty")
    return df

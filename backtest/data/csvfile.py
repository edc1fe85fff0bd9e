"""Reading a price CSV as text: what the file really is, its encoding, delimiter, and its numbers' marks.

The file is read whole (price files are a few MB at most) and checked for what it really is (an Excel
workbook or a gzip file renamed ``.csv``, an HTML page), decoded (UTF-8, with or without a BOM, or UTF-16
with a BOM), and split with the delimiter that splits the header and the first rows into the same number
of fields (``,``, ``;``, tab or ``|``; Excel's ``sep=;`` first line is honoured). Every cell stays text:
numbers are read by ``parse_numbers`` after the date range is cut, once the decimal mark and thousands
separator are known from the cells themselves.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from backtest.core.errors import DataError
from backtest.data.dates import NA_TEXT

DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SAVE_AS_CSV = ("Open it in Excel or LibreOffice and save it as CSV (File > Save As > CSV UTF-8), or convert it "
                "with pandas: pd.read_excel(path).to_csv(\"prices.csv\", index=False).")
_MAGIC = (  # (leading bytes, what the file is, the fix)
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip archive", _SAVE_AS_CSV),
    (b"\xd0\xcf\x11\xe0", "an old-style Excel workbook (.xls)", _SAVE_AS_CSV),
    (b"PAR1", "a Parquet file", "Convert it: pd.read_parquet(path).to_csv(\"prices.csv\", index=False)."),
    (b"SQLite format 3\x00", "an SQLite database", "Export the price table to CSV."),
    (b"BZh", "a bzip2-compressed file", "Decompress it (bunzip2) and point data.path at the result."),
    (b"\xfd7zXZ\x00", "an xz-compressed file", "Decompress it (unxz) and point data.path at the result."),
)


def read_text_csv(path: str, origin: str | None = None, raw: bytes | None = None) -> pd.DataFrame:
    """The file's rows as a frame of stripped strings, columns named as in the header, index = line numbers.

    ``raw``: the file's bytes when the caller has read (and decompressed) them already.
    """
    origin = origin or path
    text = _decode(path, _read_bytes(path) if raw is None else raw, origin)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataError(f"{origin}: the file is empty. Expected a header line such as "
                        "Date,Open,High,Low,Close,Volume and one line per trading day.")
    hint = re.fullmatch(r"\s*sep=(.)\s*", lines[first])  # Excel writes "sep=;" when asked to
    if hint:
        first = next((i for i in range(first + 1, len(lines)) if lines[i].strip()), len(lines))
    body = "\n".join(lines[first:]) + "\n"
    _refuse_other_formats(body, origin)
    delimiter = hint.group(1) if hint else _sniff_delimiter(lines[first:first + 51], origin)
    rows = _split(body, delimiter, first, origin)
    header, records = rows[0], rows[1:]
    if not records:
        raise DataError(f"{origin}: the file has a header ({delimiter.join(header)!r}) but no rows of prices. "
                        "Check that the export finished, or point data.path at the full file.")
    width = len(header)
    cells = [[c.strip() for c in r[:width]] + [""] * (width - len(r)) for r in records]
    return pd.DataFrame(cells, columns=[h.strip() for h in header], dtype=object,
                        index=pd.RangeIndex(first + 2, first + 2 + len(records), name="line"))


def _read_bytes(path: str) -> bytes:
    file = Path(path)
    if file.is_dir():
        raise DataError(f"data.path: {path!r} is a folder, not a file. Point it at the CSV file inside.")
    if not file.is_file():
        raise DataError(f"data.path: file {path!r} does not exist. Check the path (relative to the current "
                        "directory).")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DataError(f"data.path: cannot read {path!r} ({exc.strerror or exc}). Check its permissions.") from None
    if raw.startswith(b"\x1f\x8b"):
        if not file.name.lower().endswith(".gz"):
            raise DataError(f"{path}: the file is gzip-compressed, not plain text, though its name says .csv. "
                            f"Decompress it (gunzip -c {path} > prices.csv) or rename it to end in .csv.gz, "
                            "which wfbt decompresses.")
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: the gzip file is damaged ({exc}). Download or compress it again.") from None
    for magic, what, fix in _MAGIC:
        if raw.startswith(magic):
            raise DataError(f"{path}: the file is {what}, not a CSV text file. {fix}")
    return raw


def _decode(path: str, raw: bytes, origin: str) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text" export
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"{origin}: the file is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); it "
                        "was probably saved in a legacy code page such as Windows-1252 or Big5. Save it as UTF-8 "
                        "(Excel: CSV UTF-8), e.g. iconv -f cp1252 -t utf-8 in.csv > out.csv.") from None


def _refuse_other_formats(body: str, origin: str) -> None:
    start = body.lstrip()[:200].lower()
    if start.startswith(("<!doctype html", "<html", "<?xml", "<")):
        raise DataError(f"{origin}: the file is an HTML/XML page, not CSV (it starts with {body.lstrip()[:30]!r}); "
                        "a browser may have saved an error or login page instead of the download. Download the "
                        "CSV again.")
    if start.startswith(("{", "[")):
        raise DataError(f"{origin}: the file is JSON, not CSV (it starts with {body.lstrip()[:30]!r}). Convert "
                        "it, e.g. pd.read_json(path).to_csv(\"prices.csv\", index=False).")


def _sniff_delimiter(sample: list[str], origin: str) -> str:
    """The delimiter that splits the header into the most fields while the sample rows agree with it.

    If the rows agree with none, the one that splits the header most wins, so that the rows that do not fit
    it are reported by line (1,991.72 unquoted in a comma-separated file).
    """
    sample = [line for line in sample if line.strip()]
    best, best_width, widest, widest_width = None, 1, None, 1
    for delimiter in DELIMITERS:
        rows = list(csv.reader(sample, delimiter=delimiter))
        width = len(rows[0])
        agree = sum(len(r) == width for r in rows[1:])
        if width > best_width and (len(rows) == 1 or agree >= 0.8 * (len(rows) - 1)):
            best, best_width = delimiter, width
        if width > widest_width:
            widest, widest_width = delimiter, width
    best = best or widest
    if best is None:
        raise DataError(f"{origin}: could not tell how the columns are separated: the header {sample[0][:60]!r} "
                        "does not split into several columns on a comma, semicolon, tab or pipe that the next "
                        "lines agree with. Save the file as CSV with one column per field.")
    return best


def _split(body: str, delimiter: str, first: int, origin: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(body), delimiter=delimiter)
    rows = []
    try:
        for row in reader:
            rows.append(row)
    except csv.Error as exc:
        line = first + reader.line_num
        raise DataError(f"{origin}: line {line} is not valid CSV ({exc}). Check its quotes.") from None
    width = len(rows[0])
    long = [(first + 1 + i, len(r)) for i, r in enumerate(rows) if len(r) > width and any(c.strip() for c in r[width:])]
    if long:
        line, got = long[0]
        name = _DELIMITER_NAMES[delimiter]
        raise DataError(
            f"{origin}: {len(long)} line(s) have more fields than the header's {width}, first line {line} with {got}."
            f" Fields are split on the {name}; a value that contains a {name} (e.g. 1,991.72) must be quoted, "
            "or the file saved with another delimiter."
        )
    return rows


# Numbers as written in the wild. Plain: 1991.72, 1e5. With thousands separators: 1,991.72 or 1.991,72.
_PLAIN = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_DOT_DECIMAL = re.compile(r"[+-]?\d{1,3}(,\d{3})+\.\d+|[+-]?\d{1,3}(,\d{3}){2,}|[+-]?\d*\.\d+[eE][+-]?\d+")
_COMMA_DECIMAL = re.compile(r"[+-]?\d{1,3}(\.\d{3})+,\d+|[+-]?\d{1,3}(\.\d{3}){2,}|[+-]?\d+,\d+")
_AMBIGUOUS_COMMA = re.compile(r"[+-]?\d{1,3},\d{3}")  # 1,991: thousands, or a decimal comma?
_AMBIGUOUS_DOT = re.compile(r"[+-]?\d{1,3}\.\d{3}")  # 1.991: a decimal point, or thousands?
_INFINITE = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


def decimal_mark(cells: list[str], origin: str) -> str:
    """``.`` or ``,``, decided from every numeric cell; ambiguous or mixed marks are refused."""
    if not any("," in v for v in cells):
        return "."  # no comma anywhere: dots are decimal points (the CSV default)
    text = [v for v in cells if v.lower() not in NA_TEXT | _INFINITE]
    dot = [v for v in text if _DOT_DECIMAL.fullmatch(v) or ("." in v and _PLAIN.fullmatch(v)
                                                             and not _AMBIGUOUS_DOT.fullmatch(v))]
    comma = [v for v in text if _COMMA_DECIMAL.fullmatch(v) and not _AMBIGUOUS_COMMA.fullmatch(v)]
    if dot and comma:
        raise DataError(
            f"{origin}: the numbers mix decimal marks: {dot[0]!r} reads the dot as the decimal mark, "
            f"{comma[0]!r} the comma. Export every number the same way, without thousands separators."
        )
    if comma:
        return ","
    with_comma = [v for v in text if "," in v]
    if with_comma and not dot:
        raise DataError(
            f"{origin}: numbers such as {with_comma[0]!r} could be read with a decimal comma or a thousands "
            "separator, and no cell tells which. Export the numbers without thousands separators and with a dot "
            "as the decimal mark (1991.72)."
        )
    return "."


def parse_numbers(cells: pd.Series, mark: str) -> pd.Series:
    """Floats from text cells with decimal ``mark``; NaN for empty/null cells and for cells that are not numbers.

    The caller tells the two apart by comparing with the NA spellings (``NA_TEXT``).
    """
    thousands = "," if mark == "." else "."
    if mark == "." and not cells.str.contains(",", regex=False).any():  # the common case, vectorised
        plain = cells.where(~cells.str.lower().isin(NA_TEXT))
        numbers = pd.to_numeric(plain, errors="coerce")
        return numbers.where(plain.isna() | plain.str.fullmatch(_PLAIN.pattern + r"|[+-]?inf(inity)?", case=False))

    def one(value: str) -> float:
        low = value.lower()
        if low in NA_TEXT:
            return np.nan
        if low in _INFINITE:
            return -np.inf if low.startswith("-") else np.inf
        plain = value.replace(thousands, "").replace(mark, ".") if thousands in value else value.replace(mark, ".")
        if thousands in value and not re.fullmatch(rf"[+-]?\d{{1,3}}(\{thousands}\d{{3}})+(\{mark}\d+)?", value):
            return np.nan  # separators in the wrong places: not a number we can vouch for
        return float(plain) if _PLAIN.fullmatch(plain) else np.nan

    return cells.map(one).astype("float64")

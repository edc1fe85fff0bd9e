"""Price files as they come from the wild, through the real entry point: `wfbt data show` and `wfbt plan`.

Each case is either read right or refused with a message that names the problem, where, and the fix.
"""

import gzip
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest.cli.app import app
from tests.conftest import TINY, synthetic_prices

runner = CliRunner()


def said(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def show(path, *args):
    return runner.invoke(app, ["data", "show", f"csv:{path}", *args], env={"COLUMNS": "300"})


def plan(path, *sets):
    args = ["plan", "--set", "data.source=csv", "--set", f"data.path={str(path)!r}"]
    for item in [*TINY, *sets]:
        args += ["--set", item]
    return runner.invoke(app, args, env={"COLUMNS": "300"})


def write(path, frame, date_text, sep=",", number=lambda v: f"{v:.4f}", header="Date,Open,High,Low,Close,Volume",
          **open_kw):
    """A price file with dates and numbers written by the given functions."""
    lines = [header.replace(",", sep)]
    for d, row in frame.iterrows():
        cells = [date_text(d)] + [number(v) for v in row[["open", "high", "low", "close"]]] + [f"{row.volume:.0f}"]
        lines.append(sep.join(cells))
    path.write_text("\n".join(lines) + "\n", **open_kw)
    return path


def iso(d):
    return d.strftime("%Y-%m-%d")


# --- dates ---------------------------------------------------------------------------------------------------

def test_day_first_dates_with_no_day_above_12_are_read_day_first(tmp_path):
    days = pd.bdate_range("2015-01-01", "2019-12-31")
    frame = synthetic_prices(len(days[days.day <= 12])).set_axis(days[days.day <= 12])
    path = write(tmp_path / "dmy.csv", frame, lambda d: d.strftime("%d/%m/%Y"))
    result = show(path)
    assert result.exit_code == 0, result.output
    assert f"{len(frame)} rows 2015-01-01 → 2019-12-12" in said(result)
    head = " ".join(str(d.date()) for d in frame.index[:5])  # month-first, 02/01/2015 would be 1 February
    assert re.search(" ".join(rf"{d} [\d. ]+" for d in head.split()), said(result))
    assert ("warning: " + str(path) + ": dates such as '02/01/2015' have no day above 12; read them day-first "
            "(%d/%m/%Y), the only reading that gives consecutive trading days.") in said(result)
    forced = plan(path, "data.date_format=%d/%m/%Y")
    assert forced.exit_code == 0 and "read them" not in forced.output
    assert f"Walk-forward plan: {len(frame)} rows 2015-01-01 → 2019-12-12" in said(forced)


def test_day_or_month_first_undecidable_is_refused_naming_date_format(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("Date,Open,High,Low,Close\n03/04/2019,10,11,9,10\n04/04/2019,10,11,9,10.5\n")
    result = show(path)
    assert result.exit_code == 2
    assert (f"error: {path}: dates such as '03/04/2019' can be read day-first or month-first, no day is above 12, "
            "and neither reading stands out as consecutive trading days. Say which: --set "
            'data.date_format="%d/%m/%Y" (31/01/2019) or "%m/%d/%Y" (01/31/2019).') in said(result)


def test_day_first_and_month_first_in_one_file_is_refused(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("Date,Open,High,Low,Close\n13/01/2019,10,11,9,10\n01/14/2019,10,11,9,10.5\n")
    result = show(path)
    assert result.exit_code == 2
    assert (f"{path}: some dates put the day first and some the month first (line 2: '13/01/2019'; line 3: "
            "'01/14/2019'). Write them all one way.") in said(result)


def test_utc_times_for_another_markets_midnight_are_refused_then_converted(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=420)  # Taipei midnight is 16:00 UTC the day before
    path = write(tmp_path / "utc.csv", synthetic_prices(420).set_axis(days),
                 lambda d: (d - pd.Timedelta(hours=8)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    result = show(path)
    assert result.exit_code == 2, result.output
    assert (f"error: {path}: the dates are UTC times of day (line 2: '2019-01-01T16:00:00Z' and 419 more), and "
            "which calendar "
            "day a UTC time falls on depends on the exchange (16:00 UTC is already the next morning in Taipei). Set "
            "data.timezone to the exchange's zone, e.g. --set data.timezone=Asia/Taipei or America/New_York; each "
            "time is converted to it, then dated.") in said(result)
    converted = plan(path, "data.timezone=Asia/Taipei")
    assert converted.exit_code == 0, converted.output
    assert f"420 rows 2019-01-02 → {days[-1].date()}" in said(converted)


def test_naive_times_that_put_bars_on_weekends_are_refused(tmp_path):
    days = pd.bdate_range("2019-01-07", periods=60)
    path = write(tmp_path / "naive.csv", synthetic_prices(60).set_axis(days),
                 lambda d: (d - pd.Timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S"))
    result = show(path)
    assert result.exit_code == 2
    assert (f"error: {path}: 12 of 60 bars fall on a Saturday or Sunday (line 2: '2019-01-06 16:00:00' -> "
            "2019-01-06 (Sunday), line 7: '2019-01-13 16:00:00' -> 2019-01-13 (Sunday)) while a weekday is nearly "
            "empty: the times of day were dated in the wrong time zone. If the times are UTC, set data.timezone") \
        in said(result)
    assert plan(path, "data.timezone=Asia/Taipei", "walkforward.train_days=40", "walkforward.val_days=10",
                "walkforward.test_days=10", "training.batch_size=8").exit_code == 0


def test_a_wrong_timezone_is_caught_by_the_weekend_check(tmp_path):
    days = pd.bdate_range("2019-01-07", periods=60)  # 01:00 UTC = 09:00 in Taipei, 20:00 the day before in New York
    path = write(tmp_path / "open.csv", synthetic_prices(60).set_axis(days),
                 lambda d: (d + pd.Timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    result = plan(path, "data.timezone=America/New_York")
    assert result.exit_code == 2
    assert "bars fall on a Saturday or Sunday" in said(result)
    assert "Is data.timezone = 'America/New_York' the exchange's zone?" in said(result)


def test_dates_with_an_offset_and_a_start_date(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=120)
    path = write(tmp_path / "offset.csv", synthetic_prices(120).set_axis(days),
                 lambda d: d.strftime("%Y-%m-%dT00:00:00+08:00"))
    result = show(path, "--start", "2019-03-01")
    assert result.exit_code == 0, result.output
    assert f"rows 2019-03-01 → {days[-1].date()}" in said(result)


def test_midnight_utc_labels_keep_their_date(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=50)
    path = write(tmp_path / "labels.csv", synthetic_prices(50).set_axis(days),
                 lambda d: d.strftime("%Y-%m-%dT00:00:00Z"))
    result = show(path, "--start", "2019-01-10")
    assert result.exit_code == 0, result.output
    assert f"rows 2019-01-10 → {days[-1].date()}" in said(result)


@pytest.mark.parametrize(("scale", "name"), [(1, "seconds"), (1000, "milliseconds")])
def test_epoch_dates(tmp_path, scale, name):
    days = pd.bdate_range("2019-01-02", periods=30)
    path = write(tmp_path / f"{name}.csv", synthetic_prices(30).set_axis(days),
                 lambda d: str(int(d.timestamp()) * scale))
    result = show(path)
    assert result.exit_code == 0, result.output
    assert f"30 rows 2019-01-02 → {days[-1].date()}" in said(result)


def test_epoch_times_of_day_need_a_timezone(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=30)  # Yahoo's chart API: the session's open, in epoch seconds
    path = write(tmp_path / "open.csv", synthetic_prices(30).set_axis(days),
                 lambda d: str(int((d + pd.Timedelta(hours=1)).timestamp())))
    assert "Set data.timezone to the exchange's zone" in said(show(path))


def test_compact_and_slashed_year_first_dates(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=30)
    for fmt in ("%Y%m%d", "%Y/%m/%d", "%Y.%m.%d"):
        path = write(tmp_path / "c.csv", synthetic_prices(30).set_axis(days), lambda d, f=fmt: d.strftime(f))
        result = show(path)
        assert result.exit_code == 0 and f"30 rows 2019-01-02 → {days[-1].date()}" in said(result), fmt


def test_mixed_date_formats_are_refused_with_lines(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("Date,Open,High,Low,Close\n2019-01-02,10,11,9,10\n2019-01-03,10,11,9,10\n04/01/2019,10,11,9,10\n")
    result = show(path)
    assert result.exit_code == 2
    assert (f"{path}: dates are written in more than one way: year-first (line 2: '2019-01-02', line 3: "
            "'2019-01-03'); day/month (line 4: '04/01/2019'). Write every date the same way") in said(result)


def test_a_date_format_that_some_rows_miss(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("Date,Open,High,Low,Close\n02/01/2019,10,11,9,10\n2019-01-03,10,11,9,10\n")
    result = show(path)  # refused as mixed; with the format named, the odd row is named
    assert result.exit_code == 2
    forced = plan(path, "data.date_format=%d/%m/%Y")
    assert forced.exit_code == 2
    assert (f"{path}: 1 date(s) do not match data.date_format '%d/%m/%Y': line 3: '2019-01-03'.") in said(forced)


def test_bad_date_settings_are_refused_before_reading(tmp_path):
    result = plan(tmp_path / "none.csv", "data.timezone=Asia/Taipai")
    assert result.exit_code == 2
    assert "data.timezone: unknown time zone 'Asia/Taipai'. Did you mean 'Asia/Taipei'?" in said(result)
    result = plan(tmp_path / "none.csv", "data.date_format=dd/mm/yyyy")
    assert 'data.date_format: expected a strptime format such as "%d/%m/%Y"' in said(result)


# --- delimiters, decimal marks, numbers --------------------------------------------------------------------

@pytest.fixture
def frame():
    return synthetic_prices(30, start="2019-01-02") * np.array([20, 20, 20, 20, 1])  # prices in the thousands


@pytest.mark.parametrize(("sep", "number", "header"), [
    (";", lambda v: f"{v:.2f}".replace(".", ","), "Date,Open,High,Low,Close,Volume"),  # European Excel
    ("\t", lambda v: f"{v:.2f}", "Date,Open,High,Low,Close,Volume"),
    (",", lambda v: f'"{v:,.2f}"', "Date,Open,High,Low,Close,Volume"),  # quoted, with thousands separators
    (";", lambda v: f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", "."),  # 1.991,72
     "Date,Open,High,Low,Close,Volume"),
    ("|", lambda v: f"{v:.2f}", "date,open,high,low,close,volume"),
])
def test_delimiters_and_decimal_marks_are_read(tmp_path, frame, sep, number, header):
    path = write(tmp_path / "d.csv", frame, iso, sep=sep, number=number, header=header)
    result = show(path)
    assert result.exit_code == 0, result.output
    from backtest.core.config import DataSection
    from backtest.data.load import load_prices

    got = load_prices(DataSection(source="csv", path=str(path)))
    np.testing.assert_allclose(got["close"].to_numpy(), frame["close"].round(2).to_numpy())


def test_thousands_separators_without_quotes_are_refused_with_the_fix(tmp_path, frame):
    path = write(tmp_path / "t.csv", frame, iso, number=lambda v: f"{v:,.2f}")
    result = show(path)
    assert result.exit_code == 2
    assert (f"{path}: 30 line(s) have more fields than the header's 6, first line 2 with 10. Fields are split on the "
            "comma; a value that contains a comma (e.g. 1,991.72) must be quoted") in said(result)


def test_a_comma_that_could_be_either_mark_is_refused(tmp_path):
    path = tmp_path / "amb.csv"
    path.write_text('Date;Open;High;Low;Close\n2019-01-02;1,991;2,005;1,985;2,000\n2019-01-03;2,001;2,010;1,995;2,004\n')
    result = show(path)
    assert result.exit_code == 2
    assert (f"{path}: numbers such as '1,991' could be read with a decimal comma or a thousands separator, and no "
            "cell tells which.") in said(result)


def test_mixed_decimal_marks_are_refused(tmp_path):
    path = tmp_path / "mix.csv"
    path.write_text('Date;Open;High;Low;Close\n2019-01-02;1991.5;2005,25;1985;2000\n')
    result = show(path)
    assert result.exit_code == 2
    assert "the numbers mix decimal marks: '1991.5' reads the dot as the decimal mark, '2005,25' the comma" in \
        said(result)


def test_a_cell_that_is_not_a_number_is_named(tmp_path, frame):
    path = write(tmp_path / "n.csv", frame, iso)
    text = path.read_text().splitlines()
    cells = text[5].split(",")
    cells[4] = "12O.5"  # the letter O
    text[5] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    result = show(path)
    assert result.exit_code == 2
    assert (f"error: {path}: 1 close value(s) are not numbers: '12O.5' on 2019-01-08. Expected numbers such as "
            "1991.72; fix those cells") in said(result)


@pytest.mark.parametrize(("value", "shown"), [("inf", "inf"), ("1e308", "1e+308"), ("-inf", "-inf")])
def test_infinite_or_absurd_prices_are_refused_with_the_rows(tmp_path, frame, value, shown):
    path = write(tmp_path / "inf.csv", frame, iso)
    text = path.read_text().splitlines()
    cells = text[3].split(",")
    cells[2] = value  # the high
    text[3] = ",".join(cells)
    path.write_text("\n".join(text) + "\n")
    result = show(path)
    assert result.exit_code == 2, result.output
    assert (f"error: {path}: 1 high value(s) are infinite or above 1e+15: {shown} on 2019-01-04. No real price is "
            "that large: a unit or export error.") in said(result)


def test_infinite_volume_is_refused(tmp_path, frame):
    path = write(tmp_path / "v.csv", frame, iso)
    path.write_text(path.read_text().replace("\n2019-01-03,", "\n2019-01-03,", 1))
    text = path.read_text().splitlines()
    text[2] = ",".join(text[2].split(",")[:5] + ["Infinity"])
    path.write_text("\n".join(text) + "\n")
    result = show(path)
    assert result.exit_code == 2
    assert "1 volume value(s) are infinite or above 1e+18: inf on 2019-01-03" in said(result)


def test_negative_volume_is_refused(tmp_path, frame):
    frame.iloc[4, 4] = -500
    result = show(write(tmp_path / "neg.csv", frame, iso))
    assert result.exit_code == 2
    assert "1 row(s) have a negative volume, first on 2019-01-08. Volume counts shares traded" in said(result)


def test_constant_prices_are_refused(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=300)
    flat = pd.DataFrame({"open": 50.0, "high": 50.0, "low": 50.0, "close": 50.0, "volume": 1000.0}, index=days)
    path = write(tmp_path / "flat.csv", flat, iso)
    result = plan(path)
    assert result.exit_code == 2
    assert (f"error: {path}: every close is 50 (300 rows, 2019-01-02 to {days[-1].date()}): a series that never "
            "moves cannot be forecast or scaled.") in said(result)


def test_an_all_empty_volume_column_reads_as_no_volume(tmp_path, frame):
    path = write(tmp_path / "nv.csv", frame, iso)
    path.write_text("\n".join(",".join(line.split(",")[:5] + [""]) if i else line
                              for i, line in enumerate(path.read_text().splitlines())) + "\n")
    result = show(path)
    assert result.exit_code == 0, result.output
    from backtest.core.config import DataSection
    from backtest.data.load import load_prices

    assert load_prices(DataSection(source="csv", path=str(path)))["volume"].isna().all()


# --- what the file is, its encoding, its header and empty lines ---------------------------------------------

def test_an_excel_workbook_renamed_csv(tmp_path):
    path = tmp_path / "prices.csv"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
    result = show(path)
    assert result.exit_code == 2
    assert (f"error: {path}: the file is an Excel workbook (.xlsx) or another zip archive, not a CSV text file. "
            "Open it in Excel or LibreOffice and save it as CSV") in said(result)


def test_gzip_renamed_csv_is_named_and_csv_gz_is_read(tmp_path, frame):
    plain = write(tmp_path / "p.csv", frame, iso)
    renamed = tmp_path / "prices.csv"
    renamed.write_bytes(gzip.compress(plain.read_bytes()))
    result = show(renamed)
    assert result.exit_code == 2
    assert (f"error: {renamed}: the file is gzip-compressed, not plain text, though its name says .csv. Decompress "
            f"it (gunzip -c {renamed} > prices.csv) or rename it to end in .csv.gz") in said(result)
    packed = tmp_path / "prices.csv.gz"
    packed.write_bytes(renamed.read_bytes())
    assert show(packed).exit_code == 0


def test_encodings_bom_utf16_and_a_legacy_code_page(tmp_path, frame):
    plain = write(tmp_path / "p.csv", frame, iso)
    for name, data in [("bom.csv", b"\xef\xbb\xbf" + plain.read_bytes()),
                       ("u16.csv", plain.read_text().encode("utf-16"))]:
        (tmp_path / name).write_bytes(data)
        result = show(tmp_path / name)
        assert result.exit_code == 0 and "30 rows 2019-01-02" in said(result), name
    legacy = tmp_path / "cp1252.csv"
    legacy.write_bytes(plain.read_bytes().replace(b"Date", b"Dat\xe9", 1))
    result = show(legacy)
    assert result.exit_code == 2
    assert (f"error: {legacy}: the file is not UTF-8 text (byte 0xe9 on line 1); it was probably saved in a legacy "
            "code page such as Windows-1252 or Big5. Save it as UTF-8") in said(result)


def test_a_web_page_saved_as_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("<!DOCTYPE html><html><body>Sign in</body></html>\n")
    result = show(path)
    assert result.exit_code == 2
    assert f"error: {path}: the file is an HTML/XML page, not CSV" in said(result)


def test_a_header_without_rows_and_an_empty_file(tmp_path):
    header_only = tmp_path / "h.csv"
    header_only.write_text("Date,Open,High,Low,Close,Adj Close,Volume\n")
    result = show(header_only)
    assert result.exit_code == 2
    assert (f"error: {header_only}: the file has a header ('Date,Open,High,Low,Close,Adj Close,Volume') but no rows "
            "of prices.") in said(result)
    empty = tmp_path / "e.csv"
    empty.write_text("\n\n")
    result = show(empty)
    assert result.exit_code == 2 and f"error: {empty}: the file is empty." in said(result)


def test_trailing_blank_lines_and_delimiter_only_lines_are_dropped_with_a_warning(tmp_path, frame):
    path = write(tmp_path / "b.csv", frame, iso)
    path.write_text(path.read_text() + "\n,,,,,\n\n")
    result = show(path)
    assert result.exit_code == 0, result.output
    assert f"warning: {path}: dropped 3 empty line(s) (line 32, 33, 34)." in said(result)


def test_duplicate_headers_are_refused_by_name(tmp_path, frame):
    path = write(tmp_path / "dup.csv", frame, iso, header="Date,Open,High,Low,Close,Close")
    result = show(path)
    assert result.exit_code == 2
    assert (f"error: {path}: the columns ['Close', 'Close'] all mean close. Keep one: remove or rename the others"
            in said(result))
    both = tmp_path / "dt.csv"
    both.write_text("Date,Time,Open,High,Low,Close\n2019-01-02,09:00,10,11,9,10\n")
    assert "the columns ['Date', 'Time'] all mean date" in said(show(both))


def test_excel_sep_line_is_honoured(tmp_path, frame):
    path = write(tmp_path / "sep.csv", frame, iso, sep=";", number=lambda v: f"{v:.2f}".replace(".", ","))
    path.write_text("sep=;\n" + path.read_text())
    result = show(path)
    assert result.exit_code == 0, result.output
    assert re.search(r"30 rows 2019-01-02 → 2019-02-12", said(result))


def test_data_show_prints_the_checks_it_passed():
    result = runner.invoke(app, ["data", "show", "sample:sp500", "--start", "2018-12-20"], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert "open/close within [low, high])" in said(result)


def test_dates_with_month_names(tmp_path):
    days = pd.bdate_range("2019-01-02", periods=30)
    for fmt in ("%d %b %Y", "%b %d, %Y", "%d-%b-%Y"):
        path = write(tmp_path / "m.csv", synthetic_prices(30).set_axis(days), lambda d, f=fmt: d.strftime(f),
                     sep=";")
        result = show(path)
        assert result.exit_code == 0 and f"30 rows 2019-01-02 → {days[-1].date()}" in said(result), fmt


def test_a_start_with_a_time_or_zone_is_refused(tmp_path, frame):
    path = write(tmp_path / "p.csv", frame, iso)
    result = show(path, "--start", "2019-01-10T09:00:00+08:00")
    assert result.exit_code == 2
    assert "error: data.start: expected a date like 2019-01-31. Got '2019-01-10T09:00:00+08:00'." in said(result)

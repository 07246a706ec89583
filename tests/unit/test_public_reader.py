"""The checked CSV reader behind every public-data adapter: every bad cell, named exactly."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from nbo.errors import ContractViolation, InputFileError
from sources.public.canonical import dates_years_before
from sources.public.reader import Column, read_checked_csv, resolve_source_file

COLUMNS = (
    Column("id", is_unique=True),
    Column("join_date", "date", date_format="%d/%m/%Y", is_nullable=True),
    Column("balance", "number", min_value=0),
    Column("sex", allowed=("F", "M")),
    Column("age", "number", is_whole=True),
)
GOOD = "id,join_date,balance,sex,age,branch\nA1,1/2/2019,10.5,F,30, X1 \nA2,,5e+05,M,41,X2\n"


def _write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _violations(path: Path, columns: tuple[Column, ...] = COLUMNS, **kwargs: object) -> list[dict]:
    with pytest.raises(ContractViolation) as err:
        read_checked_csv(path, columns, **kwargs)
    return err.value.violations


def test_parses_numbers_dates_and_text_and_keeps_other_columns_raw(tmp_path: Path) -> None:
    frame = read_checked_csv(_write(tmp_path, GOOD), COLUMNS)
    assert frame["balance"].tolist() == [10.5, 500_000.0]
    assert frame["join_date"].iloc[0] == pd.Timestamp("2019-02-01")
    assert pd.isna(frame["join_date"].iloc[1])
    assert frame["age"].dtype == "float64"
    assert frame["branch"].tolist() == [" X1 ", "X2"]


def test_reports_every_bad_cell_and_the_missing_column(tmp_path: Path) -> None:
    text = ("id,join_date,balance,age\n"
            "A1,31/02/2019,10,30\n"
            "A2,1/1/2019,ten,30.5\n"
            "A1,2019-01-01,-3,\n")
    found = {(v["row"], v["column"], v["check"]) for v in _violations(_write(tmp_path, text))}
    assert found == {
        (None, "sex", "missing_column"),
        (1, "join_date", "not_a_date"),
        (3, "join_date", "not_a_date"),
        (2, "balance", "not_a_number"),
        (3, "balance", "below_minimum"),
        (2, "age", "not_whole"),
        (3, "age", "missing_value"),
        (3, "id", "duplicate"),
    }


def test_each_violation_names_file_row_and_column_in_one_line(tmp_path: Path) -> None:
    text = "id,join_date,balance,sex,age\nA1,1/1/2019,1,F,30\nA2,31/02/2019,1,X,30\n"
    path = _write(tmp_path, text, "Train.csv")
    by_column = {v["column"]: v for v in _violations(path)}
    assert by_column["join_date"] == {
        "file": str(path), "row": 2, "column": "join_date", "check": "not_a_date",
        "message": "not a date: '31/02/2019'",
        "text": "Train.csv row 2 column join_date: not a date: '31/02/2019'",
    }
    assert by_column["sex"]["message"] == "not one of F, M: 'X'"


def test_missing_markers_are_the_callers_choice(tmp_path: Path) -> None:
    columns = (Column("age", "number", is_nullable=True),)
    path = _write(tmp_path, "age\n 35\n NA\n\n7\n")
    assert read_checked_csv(path, columns, missing=("", "NA"))["age"].isna().tolist() == [False, True, False]
    assert [v["row"] for v in _violations(path, columns)] == [2]


def test_short_row_cells_are_missing_values(tmp_path: Path) -> None:
    found = _violations(_write(tmp_path, "id,join_date,balance,sex,age\nA1,1/1/2019,1,F,30\nA2,1/1/2019\n"))
    assert {(v["row"], v["column"], v["check"]) for v in found} == {
        (2, "balance", "missing_value"), (2, "sex", "missing_value"), (2, "age", "missing_value")}


def test_non_utf8_bytes_name_the_file_row_and_column(tmp_path: Path) -> None:
    text = "id,name\n1,Muller\n2,M\u00fcller\n3,Ok\n4,B\u00e9b\u00e9\n"
    path = _write(tmp_path, text.encode("latin-1"), "people.csv")
    with pytest.raises(ContractViolation, match="people.csv is not UTF-8") as err:
        read_checked_csv(path, (Column("id"), Column("name")))
    assert [(v["row"], v["column"], v["check"]) for v in err.value.violations] == [
        (2, "name", "encoding"), (4, "name", "encoding")]
    assert err.value.violations[0]["text"] == "people.csv row 2 column name: not UTF-8: byte fc"


def test_binary_and_gzip_files_fail_cleanly(tmp_path: Path) -> None:
    path = _write(tmp_path, b"id,name\n1,\xff\r\x00x\n", "blob.csv")
    assert [v["row"] for v in _violations(path, (Column("id"),))] == [1]
    with pytest.raises(InputFileError, match="gzip"):
        read_checked_csv(_write(tmp_path, gzip.compress(b"id\n1\n"), "data.csv.gz"), (Column("id"),))


def test_utf8_with_byte_order_mark_reads(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffid,name\n1,Müller\n".encode())
    assert read_checked_csv(path, (Column("id"), Column("name")))["name"].tolist() == ["Müller"]


def test_ragged_row_is_a_csv_syntax_violation(tmp_path: Path) -> None:
    found = _violations(_write(tmp_path, "id,name\n1,a\n2,b\n3,c,extra\n"), (Column("id"),))
    assert [(v["row"], v["check"]) for v in found] == [(3, "csv_syntax")]


def test_empty_file_is_an_input_file_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="empty"):
        read_checked_csv(_write(tmp_path, ""), (Column("id"),))


def test_a_folder_resolves_to_the_datasets_file_name(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, "Train.csv")
    assert resolve_source_file(tmp_path, "Train.csv") == path
    assert resolve_source_file(path, "Other.csv") == path
    with pytest.raises(InputFileError, match="Other.csv"):
        resolve_source_file(tmp_path, "Other.csv")


def test_whole_years_before_a_date_keep_the_age_and_missing_stays_missing() -> None:
    at = pd.Timestamp("2019-01-01")
    born = dates_years_before(pd.Series([0.0, 42.0, float("nan")]), at)
    assert born.tolist()[:2] == [pd.Timestamp("2018-07-01"), pd.Timestamp("1976-07-01")]
    assert pd.isna(born.iloc[2])

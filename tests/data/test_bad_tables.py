"""A user's file is never trained on after a silent guess: each case is one clear error."""

from __future__ import annotations

import pandas as pd
import pytest

from seqlab.data.series.stocks import read_prices
from seqlab.data.series.table_checks import parse_dates
from seqlab.data.text.datamodule import read_text_file
from seqlab.data.text.tokenizers import CharTokenizer
from seqlab.errors import SeqlabError

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"


def _prices(dates: list[str]) -> str:
    rows = [
        f"{d},{10 + i},{11 + i},{9 + i},{10.5 + i},{10.5 + i},{1000 + i}"
        for i, d in enumerate(dates)
    ]
    return HEADER + "\n".join(rows) + "\n"


def _read(path, **kwargs) -> pd.DataFrame:
    return read_prices(
        csv_path=str(path), source="bundled", tickers=None, start="", end="", **kwargs
    )


def test_day_first_dates_are_read_day_first_for_every_row(tmp_path):
    # 01.02 alone could be 1 Feb or 2 Jan; 13.02 settles it for the whole column
    path = tmp_path / "prices.csv"
    path.write_text(_prices(["01.02.2020", "03.02.2020", "13.02.2020", "14.02.2020"]))
    dates = _read(path)["Date"].dt.strftime("%Y-%m-%d").tolist()
    assert dates == ["2020-02-01", "2020-02-03", "2020-02-13", "2020-02-14"]


def test_a_column_two_formats_read_differently_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(_prices(["01.02.2020", "03.02.2020", "04.02.2020"]))
    with pytest.raises(
        SeqlabError, match=r"ambiguous: '01.02.2020' \(data row 1\).*data\.date_format"
    ):
        _read(path)
    dates = _read(path, date_format="%m.%d.%Y")["Date"].dt.strftime("%Y-%m-%d").tolist()
    assert dates == ["2020-01-02", "2020-03-02", "2020-04-02"]


def test_a_date_that_does_not_match_the_given_format_names_its_row():
    with pytest.raises(SeqlabError, match=r"'2020-13-45' \(data row 2\) does not match"):
        parse_dates(
            pd.Series(["2020-01-02", "2020-13-45"]), where="f.csv", column="Date", fmt="%Y-%m-%d"
        )


def test_duplicate_dates_are_refused_or_resolved_as_configured(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text(_prices(["2020-01-02", "2020-01-03", "2020-01-03", "2020-01-06"]))
    with pytest.raises(
        SeqlabError,
        match=r"2 rows share a date.*2020-01-03 at data row 2.*duplicate_dates=first\|last",
    ):
        _read(path)
    kept = _read(path, duplicate_dates="last")
    assert len(kept) == 3 and kept.loc[kept["Date"] == "2020-01-03", "Open"].item() == 12


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (HEADER, "has a header but no data rows"),
        (
            _prices(["2020-01-02", "2020-01-03"]).replace(",11.5,11.5,", ",-1,11.5,"),
            r"column 'Close' has a non-positive price -1 at data row 2",
        ),
        (
            _prices(["2020-01-02", "2020-01-03"]).replace(",10,11,9,", ",abc,11,9,"),
            r"column 'Open' has a non-numeric value 'abc' at data row 1",
        ),
    ],
)
def test_bad_values_name_the_column_and_row(tmp_path, content, message):
    path = tmp_path / "prices.csv"
    path.write_text(content)
    with pytest.raises(SeqlabError, match=message) as caught:
        _read(path)
    assert str(path) in str(caught.value)


def test_a_text_file_with_nul_bytes_is_refused(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("To be, or not\nto be\x00\x00 that is")
    with pytest.raises(SeqlabError, match=r"2 NUL/control byte\(s\) \(first on line 2"):
        read_text_file(path)


def test_generate_names_prompt_characters_outside_the_vocabulary():
    from seqlab.cli.generate import unknown_characters

    tokenizer = CharTokenizer.fit("ROMEO: hello")
    assert unknown_characters(tokenizer, "ROMEO: ¿qué?") == ["?", "q", "u", "¿", "é"]
    assert unknown_characters(tokenizer, "hello") == []

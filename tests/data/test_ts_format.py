"""The archive's `.ts` format: each variant a user may bring is read, or refused in one line."""

from __future__ import annotations

import numpy as np
import pytest

from seqlab.data.series.ucr import UCRDataModule, read_ts
from seqlab.errors import SeqlabError

HEAD = "@problemName x\n@univariate true\n@classLabel true a b\n"


def _write(tmp_path, body: str, head: str = HEAD, name: str = "x_TRAIN.ts"):
    path = tmp_path / name
    path.write_text(head + "@data\n" + body)
    return path


def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "Fix:" in text, text
    return text


def test_missing_values_are_refused_naming_line_and_channel(tmp_path):
    head = HEAD.replace("@univariate true", "@univariate false") + "@missing true\n"
    path = _write(tmp_path, "1,2,3:4,5,6:a\n1,?,3:4,5,6:b\n", head)
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    text = _one_line(err)
    assert "line 7, channel 1" in text and "missing" in text


@pytest.mark.parametrize("value", ["NaN", "nan", "inf", "-Infinity"])
def test_a_literal_nan_or_inf_is_refused_not_averaged_in(tmp_path, value):
    path = _write(tmp_path, f"1,2,3:a\n1,{value},3:b\n")
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "line 6, channel 1" in _one_line(err) and "not finite" in str(err.value)


def test_a_line_without_a_label_is_named(tmp_path):
    path = _write(tmp_path, "1,2,3:a\n1,2,3\n")
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "line 6 has no class label" in _one_line(err)
    multi = HEAD.replace("@univariate true", "@univariate false")
    path = _write(tmp_path, "1,2,3:4,5,6:a\n1,2,3:4,5,6\n", multi)
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "line 6 has no class label" in _one_line(err)


def test_a_non_utf8_header_comment_is_skipped_and_bad_data_is_named(tmp_path):
    path = tmp_path / "x_TRAIN.ts"
    path.write_bytes(
        b"# donn\xe9es de Fran\xe7ois\n" + (HEAD + "@data\n1,2,3:a\n4,5,6:b\n").encode()
    )
    series, labels = read_ts(path)
    assert labels == ["a", "b"] and np.array_equal(series[1][:, 0], [4.0, 5.0, 6.0])
    path.write_bytes(b"% archive-style comment: \xe9t\xe9\n" + (HEAD + "@data\n1,2,3:a\n").encode())
    assert read_ts(path)[1] == ["a"]
    path.write_bytes((HEAD + "@data\n1,2,3:a\n").encode() + b"4,5,6:caf\xe9\n")
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "line 6 is not UTF-8" in _one_line(err)


def test_the_timestamped_variant_is_refused_with_what_is_read(tmp_path):
    head = HEAD + "@timestamps true\n"
    path = _write(tmp_path, "(2007-01-01 00:00:00,241.97),(2007-01-01 00:01:00,241.75):a\n", head)
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "timestamp" in _one_line(err)
    path = _write(tmp_path, "(0,241.97),(1,241.75):a\n")  # no header saying so
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "timestamp" in _one_line(err)


def test_the_regression_variant_is_refused_not_classified(tmp_path):
    head = "@problemname Covid\n@univariate true\n@targetlabel true\n"
    path = _write(tmp_path, "1,2,3:0.5\n1,2,4:0.07758\n", head)
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "@targetlabel" in _one_line(err) and "regression" in str(err.value)
    unlabelled = "@problemname y\n@univariate true\n@classlabel false\n"
    path = _write(tmp_path, "1,2,3\n1,2,4\n", unlabelled)
    with pytest.raises(SeqlabError) as err:
        read_ts(path)
    assert "@classLabel false" in _one_line(err)


def test_the_bundled_regression_set_is_refused(tmp_path):
    with pytest.raises(SeqlabError, match="@targetlabel"):
        UCRDataModule(name="Covid3Month").setup()


def _module(tmp_path, per_class: dict[str, int], **kwargs) -> UCRDataModule:
    rng = np.random.default_rng(0)
    rows = [
        ",".join(f"{v:.3f}" for v in rng.normal(size=6)) + f":{c}"
        for c, n in per_class.items()
        for _ in range(n)
    ]
    head = "@problemName x\n@univariate true\n@classLabel true a b c\n"
    train = _write(tmp_path, "\n".join(rows) + "\n", head)
    _write(tmp_path, "\n".join(rows) + "\n", head, name="x_TEST.ts")
    dm = UCRDataModule(name=None, path=str(train), rocket_baseline=False, **kwargs)
    dm.setup()
    return dm


def test_a_class_with_one_training_series_stays_in_training(tmp_path):
    dm = _module(tmp_path, {"a": 1, "b": 5, "c": 5})
    train = dm.splits["train"].labels.tolist()
    val = dm.splits["val"].labels.tolist()
    assert train.count(0) == 1 and 0 not in val  # "a" is learnable; validation lacks it
    assert val.count(1) == 1 and val.count(2) == 1


def test_every_class_with_one_series_trains_without_validation(tmp_path):
    dm = _module(tmp_path, {"a": 1, "b": 1, "c": 1})
    assert len(dm.splits["train"]) == 3 and len(dm.splits["val"]) == 0
    assert dm.val_dataloader() == [] and dm.spec.num_targets == 3


def test_the_archives_own_timestamped_file_is_refused():
    from seqlab.data.package_files import package_file

    path = package_file(
        "aeon",
        "datasets/data/UnitTest/UnitTestTimeStamps_TRAIN.ts",
        field="test",
        hint="pip install --no-deps aeon==1.6.0",
    )
    with pytest.raises(SeqlabError, match=r"timestamped \.ts variant"):
        read_ts(path)

"""Every built-in encoder passes the conformance suite, plus behaviour specific to each."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from hybridrec_core.testing import EncoderTests
from hybridrec_plugins.encoders import (
    IdIndexEncoder, LogStrength, MultiHotGenres, StandardScalerEncoder, TemporalEncoder, TextNormalizer,
)

NUM = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [10.0, np.nan, 30.0, 30.0]})


class TestIdIndex(EncoderTests):
    plugin_class = IdIndexEncoder
    fit_data = np.array(["u3", "u1", "u2", "u1"], dtype=object)
    transform_data = np.array(["u1", "u3", None], dtype=object)
    empty_data = np.array([], dtype=object)
    unknown_data = np.array(["nobody", "u9"], dtype=object)

    def test_unknown_ids_map_to_zero_and_vocab_is_sorted(self) -> None:
        enc = self.fitted_encoder()
        assert enc.vocab.ids.tolist() == ["<unk>", "u1", "u2", "u3"]
        assert enc.transform(np.array(["u2", "zzz", None], dtype=object)).tolist() == [2, 0, 0]

    def test_first_seen_order(self) -> None:
        enc = self.fitted_encoder(order="first_seen")
        assert enc.vocab.ids.tolist() == ["<unk>", "u3", "u1", "u2"]


class TestStandardScaler(EncoderTests):
    plugin_class = StandardScalerEncoder
    fit_data = NUM
    transform_data = pd.DataFrame({"a": [np.nan, 3.0], "b": [20.0, np.inf]})
    empty_data = NUM.iloc[:0]
    unknown_data = pd.DataFrame({"a": [1e9], "b": [-1e9]})

    def test_imputes_with_train_median_and_flags_missing(self) -> None:
        enc = self.fitted_encoder()
        values, missing = enc.transform(pd.DataFrame({"a": [np.nan, 2.0], "b": [30.0, np.nan]}))
        assert missing.tolist() == [[1.0, 0.0], [0.0, 1.0]]
        mean_a, std_a = np.nanmean([1, 2, 4]), np.nanstd([1, 2, 4])
        np.testing.assert_allclose(values[0, 0], (2.0 - mean_a) / std_a, rtol=1e-6)  # median of a is 2
        assert values.dtype == np.float32

    def test_all_missing_column_falls_back_to_zero(self) -> None:
        enc = self.make().fit(pd.DataFrame({"a": [np.nan, np.nan], "b": [1.0, 2.0]}))
        values, missing = enc.transform(pd.DataFrame({"a": [np.nan], "b": [1.5]}))
        assert values[0, 0] == 0.0 and missing[0, 0] == 1.0

    def test_clip(self) -> None:
        values, _ = self.fitted_encoder(clip=2.0).transform(pd.DataFrame({"a": [1e9], "b": [10.0]}))
        assert values[0, 0] == 2.0

    def test_column_mismatch_is_an_error(self) -> None:
        with pytest.raises(Exception, match="columns"):
            self.fitted_encoder().transform(pd.DataFrame({"x": [1.0], "b": [2.0]}))


class TestMultiHotGenres(EncoderTests):
    plugin_class = MultiHotGenres
    fit_data = np.array(["Rock, Pop", "hip-hop|rock", "set()", None, "Jazz / Blues; rock"], dtype=object)
    transform_data = np.array(["pop", "ROCK|polka", None], dtype=object)
    empty_data = np.array([], dtype=object)
    unknown_data = np.array(["polka", "zydeco"], dtype=object)

    def output_rows(self, out: Any) -> int:
        return len(out[0]) - 1

    def test_tokens_are_normalized_and_placeholders_dropped(self) -> None:
        enc = self.fitted_encoder()
        assert enc.vocab.tolist() == ["<unk>", "blues", "hip hop", "jazz", "pop", "rock"]

    def test_csr_rows_and_unknown_tokens_dropped(self) -> None:
        enc = self.fitted_encoder()
        indptr, indices = enc.transform(np.array(["pop", "ROCK|polka|Pop", None, "hip_hop"], dtype=object))
        v = enc.vocab.tolist()
        rows = [sorted(v[i] for i in indices[indptr[r]:indptr[r + 1]]) for r in range(4)]
        assert rows == [["pop"], ["pop", "rock"], [], ["hip hop"]]
        assert 0 not in indices

    def test_min_count(self) -> None:
        assert self.fitted_encoder(min_count=2).vocab.tolist() == ["<unk>", "rock"]

    def test_bad_separators_rejected(self) -> None:
        with pytest.raises(Exception, match="separators"):
            self.make(separators="a ")


class TestTextNormalizer(EncoderTests):
    plugin_class = TextNormalizer
    fit_data = np.array(["x"], dtype=object)
    transform_data = np.array(["  The  Beatles!! ", "ＡＢＢＡ", "AC/DC", None, "Beyoncé"], dtype=object)
    empty_data = np.array([], dtype=object)
    unknown_data = np.array(["???", ""], dtype=object)

    def test_normalization(self) -> None:
        out = self.fitted_encoder().transform(self.transform_data).tolist()
        assert out == ["the beatles", "abba", "ac dc", None, "beyoncé"]
        assert self.fitted_encoder().transform(np.array(["???"], dtype=object)).tolist() == [None]

    def test_strip_accents(self) -> None:
        assert self.fitted_encoder(strip_accents=True).transform(np.array(["Beyoncé"], dtype=object)).tolist() == ["beyonce"]


class TestTemporal(EncoderTests):
    plugin_class = TemporalEncoder
    fit_data = np.array([0, 86_400 * 10], dtype=np.int64)
    transform_data = np.array([86_400 * 3 + 3600 * 5, 86_400 * 20], dtype=np.int64)
    empty_data = np.zeros(0, np.int64)
    unknown_data = np.array([-86_400], dtype=np.int64)

    def test_hour_weekday_recency(self) -> None:
        out = self.fitted_encoder().transform(self.transform_data)
        assert out["hour"].tolist() == [5, 0]
        assert out["weekday"].tolist() == [6, 2]  # 1970-01-04 was a Sunday, 1970-01-21 a Wednesday
        np.testing.assert_allclose(out["recency_days"], [10 - 3 - 5 / 24, 0.0], rtol=1e-6)

    def test_without_timestamps_returns_none(self) -> None:
        enc = self.make().fit(None)
        assert enc.transform(None) is None

    def test_utc_offset(self) -> None:
        out = self.fitted_encoder(utc_offset_hours=2).transform(np.array([3600 * 23], dtype=np.int64))
        assert out["hour"].tolist() == [1] and out["weekday"].tolist() == [4]


class TestLogStrength(EncoderTests):
    plugin_class = LogStrength
    fit_data = np.array([1.0, 3.0, 100.0, 7.0])
    transform_data = np.array([0.0, 1.0, 50.0, 1000.0])
    empty_data = np.zeros(0)
    unknown_data = np.array([np.e ** 10])

    def test_minmax_in_unit_interval_with_train_stats(self) -> None:
        out = self.fitted_encoder().transform(self.transform_data)
        assert out[1] == 0.0 and out[3] == 1.0 and out[0] == 0.0
        np.testing.assert_allclose(out[2], (np.log1p(50) - np.log1p(1)) / (np.log1p(100) - np.log1p(1)), rtol=1e-6)

    def test_per_user_scaling(self) -> None:
        plays = np.array([1.0, 9.0, 100.0, 1000.0])
        users = np.array([1, 1, 2, 2])
        enc = self.make(scaling="per_user").fit(plays, users=users)
        out = enc.transform(np.array([9.0, 100.0, 5.0]), users=np.array([1, 2, 7]))
        assert out[0] == 1.0 and out[1] == 0.0  # each user's own max / min
        np.testing.assert_allclose(out[2], (np.log1p(5) - np.log1p(1)) / (np.log1p(1000) - np.log1p(1)), rtol=1e-6)

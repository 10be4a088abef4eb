"""Containers (io.save_container / load_container): the same arrays give the same bytes."""

import time

import numpy as np
import pytest

from perturb_select.io import InputError, load_container, save_container


def test_same_arrays_same_bytes_and_numpy_reads_them(tmp_path):
    arrays = {"genes": np.array(["A", "B"]), "values": np.arange(6, dtype=np.float32).reshape(2, 3)}
    save_container(tmp_path / "a.npz", "test v1", arrays, info={"seed": 1})
    time.sleep(2.1)  # zip stores times in 2 s steps: numpy's savez would now stamp another
    save_container(tmp_path / "b.npz", "test v1", arrays, info={"seed": 1})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    loaded, info = load_container(tmp_path / "a.npz", "test v1", ("genes", "values"))
    assert info == {"seed": 1}
    np.testing.assert_array_equal(loaded["values"], arrays["values"])
    with np.load(tmp_path / "a.npz", allow_pickle=False) as plain:
        assert plain.files == ["format", "genes", "values", "info"]
        np.testing.assert_array_equal(plain["genes"], ["A", "B"])
    with pytest.raises(InputError):
        load_container(tmp_path / "a.npz", "other v1", ("genes",))
    with pytest.raises(ValueError):
        save_container(tmp_path / "c.npz", "test v1", {"objects": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "c.npz").exists()

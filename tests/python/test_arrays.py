"""tandem.arrays: the GIL-keeping copies equal numpy's own, for small and large arrays."""
import numpy as np
import pytest

from tandem import arrays


@pytest.mark.parametrize("x", [
    np.arange(4, dtype=np.float32),
    np.arange(6, dtype=np.float64).reshape(2, 3),
    np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1:3],  # not contiguous
    np.arange(5, dtype=np.int64),
    np.array([2 ** 62 + 2 ** 38 + 1, -3], np.int64),          # rounded once, as numpy rounds it
    np.arange(3, dtype=np.float16),
    [0.5, -1.25, 3.0],
    7.5,
    np.arange(arrays.SMALL + 3, dtype=np.float32),            # numpy's path
    np.arange(arrays.SMALL + 3, dtype=np.float64),
])
def test_f32_flat_is_a_writable_flat_float32_copy(x):
    want = np.array(x, np.float32).reshape(-1)
    got = arrays.f32_flat(x)
    assert got.dtype == np.float32 and got.shape == want.shape and np.array_equal(got, want)
    got[...] = 0  # writable, and a copy: the input is unchanged
    if isinstance(x, np.ndarray):
        assert np.array_equal(np.array(x, np.float32).reshape(-1), want)


def test_f32_join_rows_and_split_rows_equal_numpy():
    rng = np.random.default_rng(1)
    parts = [rng.standard_normal(4).astype(np.float32) for _ in range(9)]
    assert np.array_equal(arrays.f32_join(parts), np.concatenate(parts))
    assert arrays.f32_join([]).dtype == np.float32 and arrays.f32_join([]).size == 0
    mixed = [np.zeros(0, np.float32), np.ones(3, np.float64)]  # another dtype: numpy's path
    assert np.array_equal(arrays.f32_join(mixed), np.ones(3, np.float32))
    with pytest.raises(ValueError):
        arrays.f32_rows([parts[0], parts[1][:2]])
    m = arrays.f32_rows(parts)
    assert m.shape == (9, 4) and np.array_equal(m, np.stack(parts))
    big = rng.standard_normal((3, arrays.SMALL * 8)).astype(np.float32)
    assert np.array_equal(arrays.f32_rows(list(big)), big)
    for src in (m, m[:, :3], big):  # contiguous, a column slice (as dist rows are), numpy's path
        rows = arrays.f32_split_rows(src)
        assert len(rows) == src.shape[0]
        for r, want in zip(rows, src):
            assert r.dtype == np.float32 and np.array_equal(r, want)
        rows[0][0] = 123.0  # each row its own writable array
        assert src[0, 0] != 123.0 and rows[1][0] != 123.0

"""Copies of small arrays that keep the GIL.

numpy's copying routines (np.array of an array, astype, copy, concatenate, stack, slice
assignment) release the GIL on every call, however small the array. While another thread
waits for the GIL (the local client's upload thread, after each of its system calls), every
release wakes it: a futex call and a context switch on the simulator's thread. Measured here
(bench/gil_release.py): np.array of a 4-float array costs 0.5 us alone and 1.3-2.0 us with
such a thread waiting, with ~1 context switch per 60 calls; a step that made six such copies
lost a third of its speed. Up to SMALL elements the functions below copy through bytes or
Python lists, which never release the GIL; larger arrays take numpy's path (there the
release lets the other thread work during a long copy).
"""
import numpy as np

F32 = np.dtype(np.float32)
SMALL = 4096


def f32_flat(x):
    """A writable flat float32 copy of an array, a list or a number (C order)."""
    if isinstance(x, np.ndarray) and x.size <= SMALL:
        if x.dtype == F32:
            return np.frombuffer(bytearray(x.tobytes()), F32)
        if x.dtype.kind == "f":  # through Python floats (exact for float16/64): rounded once, as astype
            return np.array(x.ravel().tolist(), F32)  # ravel: a view when contiguous; tolist keeps the GIL
    return np.array(x, dtype=F32).reshape(-1)


def f32_join(parts):
    """The float32 arrays `parts` one after the other, as one flat array (np.concatenate)."""
    if not parts:
        return np.zeros(0, F32)
    if sum(p.size for p in parts) <= 16 * SMALL and all(p.dtype == F32 for p in parts):
        return np.frombuffer(bytearray(b"".join([p.tobytes() for p in parts])), F32)
    return np.concatenate([np.asarray(p, F32).reshape(-1) for p in parts])


def f32_rows(parts):
    """The equal-sized float32 arrays `parts` as the rows of one [n, size] array (np.stack)."""
    if parts and any(p.size != parts[0].size for p in parts):
        raise ValueError("f32_rows: the rows differ in size")
    return f32_join(parts).reshape(len(parts), -1)


def f32_split_rows(m):
    """The rows of a [n, k] float32 array as n separate writable arrays (each step keeps its own)."""
    if m.size <= 16 * SMALL:
        k = m.shape[1] * F32.itemsize
        b = m.astype(F32, copy=False).tobytes()
        return [np.frombuffer(bytearray(b[i * k:(i + 1) * k]), F32) for i in range(m.shape[0])]
    return [row.copy() for row in m]

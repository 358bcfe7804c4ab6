"""The summation orders that make the 3D-ACG bit-exact, checked against what they emulate."""

from __future__ import annotations

import numpy as np

from phy_c4.features._exactsum import (
    blas_avx512_dot,
    constant_kernel_dot,
    numpy_pairwise_sum,
)


def test_pairwise_sum_is_numpys_mean_bit_for_bit():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        n = int(rng.integers(1, 3000))
        values = rng.random(n) * 10.0 ** rng.integers(-3, 4, n)
        assert numpy_pairwise_sum(values, 0, n) / n == np.mean(values)
    offset = rng.random(500)
    assert numpy_pairwise_sum(offset, 100, 300) == np.add.reduce(offset[100:400])


def test_constant_kernel_dot_is_the_general_emulation_with_equal_weights():
    """The vectorised box-car against the scalar emulation, every length through three blocks
    of 32 and a 16-block, every alignment of the start, on smooth and on piecewise-constant
    values (the rates it sees)."""
    rng = np.random.default_rng(4)
    lanes = np.empty(48)
    for n in [*range(100), 223, 224, 239, 240, 249, 250, 251, 400]:
        for start in range(0, 9):
            smooth = rng.random(n + 10) * 100
            steps = np.repeat(rng.exponential(40, n + 10), rng.integers(1, 30, n + 10))[:n + 10]
            for x in (smooth, steps):
                weight = 1.0 / max(n, 1)
                expected = blas_avx512_dot(x[start:], np.full(n, weight), n, lanes)
                assert constant_kernel_dot(x, start, weight, n) == expected, (n, start)


def test_emulated_dot_differs_from_naive_summation_in_the_last_bits():
    """The order matters (that is the point): a left-to-right sum gives other bits here."""
    rng = np.random.default_rng(5)
    lanes = np.empty(48)
    differ = 0
    for _ in range(200):
        x = rng.random(250) * 1000
        naive = 0.0
        for value in x:
            naive += value * (1.0 / 250)
        differ += blas_avx512_dot(x, np.full(250, 1.0 / 250), 250, lanes) != naive
    assert differ > 0

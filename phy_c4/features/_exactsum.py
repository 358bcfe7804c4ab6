"""Summation orders that reproduce npyx's floating-point results bit for bit, on any CPU.

npyx smooths the firing rate with ``np.convolve``, whose per-output dot product goes to OpenBLAS
``ddot``; the reference outputs were made where OpenBLAS picks its AVX-512 kernel. Its order is:
FMA into 32 lanes over blocks of 32, fold each 8-lane register to 4 lanes, FMA into 16 lanes over
blocks of 16, sum the four 4-lane registers, add the register halves, add the last pair, then a
plain (unfused) loop over the remainder. ``np.mean`` uses numpy's pairwise summation. Both are
emulated here with an exact fused multiply-add, so the result does not depend on the local BLAS.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import intrinsic


@intrinsic
def fused_multiply_add(typingctx, a, b, c):
    """a * b + c with a single rounding (LLVM ``llvm.fma``; exact even without FMA hardware)."""
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        double = ir.DoubleType()
        function = builder.module.declare_intrinsic(
            "llvm.fma", [double], ir.FunctionType(double, [double, double, double])
        )
        return builder.call(function, args)

    return signature, codegen


@numba.njit(cache=True, nogil=True)
def blas_avx512_dot(x: np.ndarray, y: np.ndarray, n: int, lanes: np.ndarray) -> float:
    """OpenBLAS's AVX-512 ``ddot`` of ``x[:n]`` and ``y[:n]``; ``lanes`` is scratch of size 48."""
    n16 = n & -16
    n32 = n16 & ~31
    wide = lanes[:32]
    narrow = lanes[32:48]
    for lane in range(32):
        wide[lane] = 0.0
    i = 0
    while i < n32:
        for lane in range(32):
            wide[lane] = fused_multiply_add(x[i + lane], y[i + lane], wide[lane])
        i += 32
    for register in range(4):
        for lane in range(4):
            narrow[4 * register + lane] = wide[8 * register + lane] + wide[8 * register + 4 + lane]
    while i < n16:
        for lane in range(16):
            narrow[lane] = fused_multiply_add(x[i + lane], y[i + lane], narrow[lane])
        i += 16
    s0 = ((narrow[0] + narrow[4]) + narrow[8]) + narrow[12]
    s1 = ((narrow[1] + narrow[5]) + narrow[9]) + narrow[13]
    s2 = ((narrow[2] + narrow[6]) + narrow[10]) + narrow[14]
    s3 = ((narrow[3] + narrow[7]) + narrow[11]) + narrow[15]
    total = (s0 + s2) + (s1 + s3)
    for j in range(n16, n):
        total = total + y[j] * x[j]
    return total


@numba.njit(cache=True, nogil=True)
def numpy_pairwise_sum(values: np.ndarray, start: int, count: int) -> float:
    """numpy's pairwise summation (``np.add.reduce`` on contiguous float64), bit for bit.

    numpy recurses, splitting n into n2 = n // 2 - (n // 2) % 8 and n - n2 down to blocks of at
    most 128 summed with eight accumulators. Numba cannot cache recursive functions, so the same
    tree is walked with an explicit stack of "evaluate" and "combine" tasks.
    """
    if count <= 128:
        return _small(values, start, count) if count < 8 else _pairwise_block(values, start, count)
    task_start = np.empty(128, dtype=np.int64)
    task_count = np.empty(128, dtype=np.int64)  # -1 marks "combine the top two sums"
    sums = np.empty(128, dtype=np.float64)
    n_tasks = 1
    n_sums = 0
    task_start[0] = start
    task_count[0] = count
    while n_tasks > 0:
        n_tasks -= 1
        s = task_start[n_tasks]
        n = task_count[n_tasks]
        if n < 0:
            n_sums -= 1
            sums[n_sums - 1] = sums[n_sums - 1] + sums[n_sums]
        elif n <= 128:
            sums[n_sums] = _small(values, s, n) if n < 8 else _pairwise_block(values, s, n)
            n_sums += 1
        else:
            half = n // 2
            half -= half % 8
            task_count[n_tasks] = -1
            task_start[n_tasks + 1] = s + half
            task_count[n_tasks + 1] = n - half
            task_start[n_tasks + 2] = s
            task_count[n_tasks + 2] = half
            n_tasks += 3
    return sums[0]


@numba.njit(cache=True, nogil=True)
def _small(values: np.ndarray, start: int, count: int) -> float:
    total = 0.0
    for i in range(count):
        total += values[start + i]
    return total


@numba.njit(cache=True, nogil=True)
def _pairwise_block(values: np.ndarray, start: int, count: int) -> float:
    r0 = values[start]
    r1 = values[start + 1]
    r2 = values[start + 2]
    r3 = values[start + 3]
    r4 = values[start + 4]
    r5 = values[start + 5]
    r6 = values[start + 6]
    r7 = values[start + 7]
    i = 8
    stop8 = count - count % 8
    while i < stop8:
        r0 += values[start + i]
        r1 += values[start + i + 1]
        r2 += values[start + i + 2]
        r3 += values[start + i + 3]
        r4 += values[start + i + 4]
        r5 += values[start + i + 5]
        r6 += values[start + i + 6]
        r7 += values[start + i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < count:
        total += values[start + i]
        i += 1
    return total

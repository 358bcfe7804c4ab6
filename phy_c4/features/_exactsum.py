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
def constant_kernel_dot(x: np.ndarray, start: int, weight: float, n: int) -> float:
    """``blas_avx512_dot`` of ``x[start:start + n]`` with every weight equal (a box-car).

    Same operations in the same order; the 32 lanes are locals so they stay in registers
    (generated code: twice as fast as the array version).
    """
    n16 = n & -16
    n32 = n16 & ~31
    w0 = w1 = w2 = w3 = w4 = w5 = w6 = w7 = 0.0
    w8 = w9 = w10 = w11 = w12 = w13 = w14 = w15 = 0.0
    w16 = w17 = w18 = w19 = w20 = w21 = w22 = w23 = 0.0
    w24 = w25 = w26 = w27 = w28 = w29 = w30 = w31 = 0.0
    i = start
    stop32 = start + n32
    while i < stop32:
        w0 = fused_multiply_add(x[i + 0], weight, w0)
        w1 = fused_multiply_add(x[i + 1], weight, w1)
        w2 = fused_multiply_add(x[i + 2], weight, w2)
        w3 = fused_multiply_add(x[i + 3], weight, w3)
        w4 = fused_multiply_add(x[i + 4], weight, w4)
        w5 = fused_multiply_add(x[i + 5], weight, w5)
        w6 = fused_multiply_add(x[i + 6], weight, w6)
        w7 = fused_multiply_add(x[i + 7], weight, w7)
        w8 = fused_multiply_add(x[i + 8], weight, w8)
        w9 = fused_multiply_add(x[i + 9], weight, w9)
        w10 = fused_multiply_add(x[i + 10], weight, w10)
        w11 = fused_multiply_add(x[i + 11], weight, w11)
        w12 = fused_multiply_add(x[i + 12], weight, w12)
        w13 = fused_multiply_add(x[i + 13], weight, w13)
        w14 = fused_multiply_add(x[i + 14], weight, w14)
        w15 = fused_multiply_add(x[i + 15], weight, w15)
        w16 = fused_multiply_add(x[i + 16], weight, w16)
        w17 = fused_multiply_add(x[i + 17], weight, w17)
        w18 = fused_multiply_add(x[i + 18], weight, w18)
        w19 = fused_multiply_add(x[i + 19], weight, w19)
        w20 = fused_multiply_add(x[i + 20], weight, w20)
        w21 = fused_multiply_add(x[i + 21], weight, w21)
        w22 = fused_multiply_add(x[i + 22], weight, w22)
        w23 = fused_multiply_add(x[i + 23], weight, w23)
        w24 = fused_multiply_add(x[i + 24], weight, w24)
        w25 = fused_multiply_add(x[i + 25], weight, w25)
        w26 = fused_multiply_add(x[i + 26], weight, w26)
        w27 = fused_multiply_add(x[i + 27], weight, w27)
        w28 = fused_multiply_add(x[i + 28], weight, w28)
        w29 = fused_multiply_add(x[i + 29], weight, w29)
        w30 = fused_multiply_add(x[i + 30], weight, w30)
        w31 = fused_multiply_add(x[i + 31], weight, w31)
        i += 32
    n0 = w0 + w4
    n1 = w1 + w5
    n2 = w2 + w6
    n3 = w3 + w7
    n4 = w8 + w12
    n5 = w9 + w13
    n6 = w10 + w14
    n7 = w11 + w15
    n8 = w16 + w20
    n9 = w17 + w21
    n10 = w18 + w22
    n11 = w19 + w23
    n12 = w24 + w28
    n13 = w25 + w29
    n14 = w26 + w30
    n15 = w27 + w31
    stop16 = start + n16
    while i < stop16:
        n0 = fused_multiply_add(x[i + 0], weight, n0)
        n1 = fused_multiply_add(x[i + 1], weight, n1)
        n2 = fused_multiply_add(x[i + 2], weight, n2)
        n3 = fused_multiply_add(x[i + 3], weight, n3)
        n4 = fused_multiply_add(x[i + 4], weight, n4)
        n5 = fused_multiply_add(x[i + 5], weight, n5)
        n6 = fused_multiply_add(x[i + 6], weight, n6)
        n7 = fused_multiply_add(x[i + 7], weight, n7)
        n8 = fused_multiply_add(x[i + 8], weight, n8)
        n9 = fused_multiply_add(x[i + 9], weight, n9)
        n10 = fused_multiply_add(x[i + 10], weight, n10)
        n11 = fused_multiply_add(x[i + 11], weight, n11)
        n12 = fused_multiply_add(x[i + 12], weight, n12)
        n13 = fused_multiply_add(x[i + 13], weight, n13)
        n14 = fused_multiply_add(x[i + 14], weight, n14)
        n15 = fused_multiply_add(x[i + 15], weight, n15)
        i += 16
    s0 = ((n0 + n4) + n8) + n12
    s1 = ((n1 + n5) + n9) + n13
    s2 = ((n2 + n6) + n10) + n14
    s3 = ((n3 + n7) + n11) + n15
    total = (s0 + s2) + (s1 + s3)
    for j in range(start + n16, start + n):
        total = total + weight * x[j]
    return total


@numba.njit(cache=True, nogil=True)
def numpy_pairwise_sum(values: np.ndarray, start: int, count: int) -> float:
    """numpy's pairwise summation (``np.add.reduce`` on contiguous float64), bit for bit.

    numpy recurses, splitting n into n2 = n // 2 - (n // 2) % 8 and n - n2 down to blocks of at
    most 128 summed with eight accumulators. Numba cannot cache recursive functions, so the same
    tree is walked with an explicit stack of "evaluate" and "combine" tasks.
    """
    if count <= 128:
        return _leaf(values, start, count)
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
            sums[n_sums] = _leaf(values, s, n)
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
def _leaf(values: np.ndarray, start: int, count: int) -> float:
    """numpy's sum of a block of at most 128 values (plain below 8, eight accumulators above)."""
    return _small(values, start, count) if count < 8 else _pairwise_block(values, start, count)


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

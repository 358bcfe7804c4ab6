"""Summation orders that reproduce npyx's floating-point results bit for bit, on any CPU.

npyx smooths the firing rate with ``np.convolve``, whose per-output dot product goes to OpenBLAS
``ddot``; the reference outputs were made where OpenBLAS picks its AVX-512 kernel. Its order is:
FMA into 32 lanes over blocks of 32, fold each 8-lane register to 4 lanes, FMA into 16 lanes over
blocks of 16, sum the four 4-lane registers, add the register halves, add the last pair, then a
plain (unfused) loop over the remainder. ``np.mean`` uses numpy's pairwise summation. Both are
emulated here with an exact fused multiply-add, so the result does not depend on the local BLAS.
The box-car case that the 3D-ACG calls for every spike runs four lanes per instruction
(``constant_kernel_dot``); ``blas_avx512_dot`` is the scalar statement of the order it keeps.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
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
    # the horizontal sum of OpenBLAS's four 4-lane accumulators: lane-wise first, then halves
    s0 = ((narrow[0] + narrow[4]) + narrow[8]) + narrow[12]
    s1 = ((narrow[1] + narrow[5]) + narrow[9]) + narrow[13]
    s2 = ((narrow[2] + narrow[6]) + narrow[10]) + narrow[14]
    s3 = ((narrow[3] + narrow[7]) + narrow[11]) + narrow[15]
    total = (s0 + s2) + (s1 + s3)
    for j in range(n16, n):  # OpenBLAS's C tail loop: multiply, round, then add (no FMA)
        total = total + y[j] * x[j]
    return total


@intrinsic
def _box_dot_vectorised(typingctx, x, start, weight, n):
    """``blas_avx512_dot`` of ``x[start:start + n]`` with every weight equal, in LLVM vectors.

    The same operations on the same lanes in the same order, but eight 4-wide fused
    multiply-adds per block of 32 instead of 32 scalar ones: vectorising across lanes changes
    no lane's own sequence, so the bits are the same (tests/features/test__exactsum.py). LLVM
    lowers the 4-wide FMA to one AVX2 instruction, or to exact scalar FMAs where the CPU has none.
    """
    signature = types.float64(x, types.int64, types.float64, types.int64)

    def codegen(context, builder, sig, args):
        values, first, w, count = args
        array = context.make_array(sig.args[0])(context, builder, values)
        base = builder.gep(array.data, [first])
        i64 = ir.IntType(64)
        quad = ir.VectorType(ir.DoubleType(), 4)
        fma = builder.module.declare_intrinsic(
            "llvm.fma.v4f64", (), ir.FunctionType(quad, [quad, quad, quad]))
        weights = ir.Constant(quad, ir.Undefined)
        for lane in range(4):
            weights = builder.insert_element(weights, w, ir.Constant(ir.IntType(32), lane))

        def load4(index):
            pointer = builder.bitcast(builder.gep(base, [index]), quad.as_pointer())
            return builder.load(pointer, align=8)

        def accumulate(accumulators, index):
            for k, accumulator in enumerate(accumulators):
                value = load4(builder.add(index, ir.Constant(i64, 4 * k)))
                builder.store(builder.call(fma, [value, weights, builder.load(accumulator)]),
                              accumulator)

        zero = ir.Constant(quad, [0.0] * 4)
        n16 = builder.and_(count, ir.Constant(i64, -16))
        n32 = builder.and_(n16, ir.Constant(i64, ~31))
        wide = [cgutils.alloca_once_value(builder, zero) for _ in range(8)]  # lanes 0..31
        with cgutils.for_range_slice(builder, ir.Constant(i64, 0), n32,
                                     ir.Constant(i64, 32)) as (i, _):
            accumulate(wide, i)
        # fold each 8-lane register to 4 lanes: register r = wide[2r] + wide[2r + 1]
        narrow = [cgutils.alloca_once_value(builder, builder.fadd(
            builder.load(wide[2 * r]), builder.load(wide[2 * r + 1]))) for r in range(4)]
        with cgutils.for_range_slice(builder, n32, n16, ir.Constant(i64, 16)) as (i, _):
            accumulate(narrow, i)
        summed = builder.fadd(builder.fadd(builder.fadd(
            builder.load(narrow[0]), builder.load(narrow[1])), builder.load(narrow[2])),
            builder.load(narrow[3]))  # s_l = ((n_l + n_4+l) + n_8+l) + n_12+l
        s = [builder.extract_element(summed, ir.Constant(ir.IntType(32), k)) for k in range(4)]
        total = cgutils.alloca_once_value(
            builder, builder.fadd(builder.fadd(s[0], s[2]), builder.fadd(s[1], s[3])))
        with cgutils.for_range_slice(builder, n16, count, ir.Constant(i64, 1)) as (j, _):
            product = builder.fmul(w, builder.load(builder.gep(base, [j])))  # not fused
            builder.store(builder.fadd(builder.load(total), product), total)
        return builder.load(total)

    return signature, codegen


@numba.njit(cache=True, nogil=True, inline="always")
def constant_kernel_dot(x: np.ndarray, start: int, weight: float, n: int) -> float:
    """``blas_avx512_dot`` of ``x[start:start + n]`` with every weight equal (a box-car).

    Inlined where numba code calls it; callable from Python for the tests. ``x`` must be a
    contiguous float64 array holding ``start + n`` values.
    """
    return _box_dot_vectorised(x, start, weight, n)


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
    """numpy's ``pairwise_sum_DOUBLE`` below 8 values: one running sum, left to right."""
    total = 0.0
    for i in range(count):
        total += values[start + i]
    return total


@numba.njit(cache=True, nogil=True)
def _pairwise_block(values: np.ndarray, start: int, count: int) -> float:
    """numpy's ``pairwise_sum_DOUBLE`` (umath/loops_utils.h.src) for 8 to 128 values: eight
    accumulators r0..r7 (its unrolled loop), combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)),
    then the remainder added one by one; any other grouping changes the last bits."""
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

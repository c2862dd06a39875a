"""Explicit float64 vector operations for the numba kernels.

LLVM's loop vectoriser leaves the kernels' short loops (one radial index,
n_max = 8; one l-block of the adjoint) scalar, and numba keeps superword
vectorisation off, so these numba intrinsics emit the vector instructions
themselves (``<4 x double>`` and ``<8 x double>`` in LLVM IR, which LLVM
splits where the CPU has narrower registers). Each lane does the
multiplications and additions of the scalar loop it replaces, in the same
order and without fused multiply–adds, so results are bit-identical to it.
The sums over pairs or radial indices keep their accumulators in vector
registers and store each result once.

Arguments are C-contiguous 1-D float64 arrays (int64 for index arrays) and
element offsets; the elements a vector covers from each offset must lie
inside the array (no bounds checks: the calling kernels pad their arrays to
whole vectors, or finish a row with scalar code).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: doubles per vector of the radial contraction (and the padding of its rows)
LANES = 4


def _is_vector_array(array_type):
    return (isinstance(array_type, types.Array) and array_type.ndim == 1 and array_type.layout == "C"
            and array_type.dtype == types.float64)


def _vector_type(lanes):
    return ir.VectorType(ir.DoubleType(), lanes)


def _pointer(context, builder, array_type, array, offset, lanes=LANES):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [offset]), _vector_type(lanes).as_pointer())


def _splat(builder, value, lanes=LANES):
    undefined = ir.Constant(_vector_type(lanes), ir.Undefined)
    first = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                                [0] * lanes))


def _is_index_array(array_type):
    return (isinstance(array_type, types.Array) and array_type.ndim == 1 and array_type.layout == "C"
            and array_type.dtype == types.int64)


def _scaled_row_sum(lanes, with_rate):
    """The intrinsic of :data:`sum_scaled_rows4` (``with_rate`` False) or
    :data:`sum_scaled_rows_with_rate4` and their 8-lane forms."""

    def codegen(context, builder, sig, args):
        def data(i):
            return context.make_array(sig.args[i])(context, builder, args[i]).data

        def vector_at(array_data, index):
            return builder.bitcast(builder.gep(array_data, [index]), _vector_type(lanes).as_pointer())

        if with_rate:
            out, rate, g, dg, row_of, Y, gY, y_of, sign = (data(i) for i in (0, 1, 3, 4, 5, 7, 8, 9, 11))
            o, shift, lm, start, count = (args[i] for i in (2, 6, 10, 12, 13))
        else:
            out, g, row_of, Y, y_of, sign = (data(i) for i in (0, 2, 3, 5, 6, 8))
            o, shift, lm, start, count = (args[i] for i in (1, 4, 7, 9, 10))
        zero = ir.Constant(_vector_type(lanes), [0.0] * lanes)
        total = cgutils.alloca_once_value(builder, zero)
        total_rate = cgutils.alloca_once_value(builder, zero)
        with cgutils.for_range(builder, count) as loop:
            j = builder.add(start, loop.index)
            at = builder.add(builder.load(builder.gep(row_of, [j])), shift)
            y_at = builder.add(builder.load(builder.gep(y_of, [j])), lm)
            factor = builder.load(builder.gep(sign, [j]))
            scale = _splat(builder, builder.fmul(factor, builder.load(builder.gep(Y, [y_at]))), lanes)
            g_value = builder.load(vector_at(g, at), align=8)
            builder.store(builder.fadd(builder.load(total), builder.fmul(g_value, scale)), total)
            if with_rate:
                along = builder.fmul(factor, builder.load(builder.gep(gY, [y_at])))
                dg_value = builder.load(vector_at(dg, at), align=8)
                change = builder.fadd(builder.fmul(dg_value, scale),
                                      builder.fmul(g_value, _splat(builder, along, lanes)))
                builder.store(builder.fadd(builder.load(total_rate), change), total_rate)
        builder.store(builder.load(total), vector_at(out, o), align=8)
        if with_rate:
            builder.store(builder.load(total_rate), vector_at(rate, o), align=8)
        return context.get_dummy_value()

    if with_rate:
        @intrinsic
        def sum_scaled_rows_with_rate(typingctx, out, out_rate, out_offset, g, dg, row_of, shift, Y, gY,
                                      y_of, lm, sign, start, count):
            if not (all(_is_vector_array(a) for a in (out, out_rate, g, dg, Y, gY, sign))
                    and _is_index_array(row_of) and _is_index_array(y_of)):
                return None
            return types.void(out, out_rate, types.intp, g, dg, row_of, types.intp, Y, gY, y_of,
                              types.intp, sign, types.intp, types.intp), codegen

        return sum_scaled_rows_with_rate

    @intrinsic
    def sum_scaled_rows(typingctx, out, out_offset, g, row_of, shift, Y, y_of, lm, sign, start, count):
        if not (all(_is_vector_array(a) for a in (out, g, Y, sign))
                and _is_index_array(row_of) and _is_index_array(y_of)):
            return None
        return types.void(out, types.intp, g, row_of, types.intp, Y, y_of, types.intp, sign, types.intp,
                          types.intp), codegen

    return sum_scaled_rows


#: ``sum_scaled_rowsK(out, o, g, row_of, shift, Y, y_of, lm, sign, start, count)``:
#: ``out[o:o+K] = Σ_j g[row_of[j] + shift : +K] · (sign[j] · Y[y_of[j] + lm])``,
#: j = start .. start + count − 1, summed from 0 in order of j (the accumulator
#: stays in registers)
sum_scaled_rows4, sum_scaled_rows8 = _scaled_row_sum(4, False), _scaled_row_sum(8, False)
#: ``sum_scaled_rows_with_rateK(out, out_rate, o, g, dg, row_of, shift, Y, gY,
#: y_of, lm, sign, start, count)``: as sum_scaled_rowsK into out, and
#: ``out_rate[o:o+K] = Σ_j (dg[…] · y_j + g[…] · (sign[j] · gY[y_of[j] + lm]))``
#: with y_j = sign[j] · Y[y_of[j] + lm]
sum_scaled_rows_with_rate4 = _scaled_row_sum(4, True)
sum_scaled_rows_with_rate8 = _scaled_row_sum(8, True)


def _radial_contraction(combine):
    """The intrinsic of :data:`contract_own` (``combine`` None), :data:`contract_sum`
    ("add") or :data:`contract_difference` ("sub")."""

    @intrinsic
    def contraction(typingctx, out, out_derivative, out_offset, A, own_offset, other_offset, stride,
                    g, dg, g_offset, count):
        arrays = (out, out_derivative, A, g, dg)
        if not all(_is_vector_array(array) for array in arrays):
            return None
        signature = types.void(out, out_derivative, types.intp, A, types.intp, types.intp, types.intp,
                               g, dg, types.intp, types.intp)

        def codegen(context, builder, sig, args):
            out_array, derivative_array, o, A_array, own, other, step, g_array, dg_array, k, n = args
            A_data = context.make_array(sig.args[3])(context, builder, A_array).data
            g_data = context.make_array(sig.args[7])(context, builder, g_array).data
            dg_data = context.make_array(sig.args[8])(context, builder, dg_array).data
            zero = ir.Constant(_vector_type(LANES), [0.0] * LANES)
            total = cgutils.alloca_once_value(builder, zero)
            total_derivative = cgutils.alloca_once_value(builder, zero)
            with cgutils.for_range(builder, n) as loop:
                shift = builder.mul(loop.index, step)
                x = builder.load(builder.bitcast(builder.gep(A_data, [builder.add(own, shift)]),
                                                 _vector_type(LANES).as_pointer()), align=8)
                if combine is not None:
                    y = builder.load(builder.bitcast(builder.gep(A_data, [builder.add(other, shift)]),
                                                     _vector_type(LANES).as_pointer()), align=8)
                    x = builder.fadd(x, y) if combine == "add" else builder.fsub(x, y)
                radial_index = builder.add(k, loop.index)
                g_value = _splat(builder, builder.load(builder.gep(g_data, [radial_index])))
                dg_value = _splat(builder, builder.load(builder.gep(dg_data, [radial_index])))
                builder.store(builder.fadd(builder.load(total), builder.fmul(g_value, x)), total)
                builder.store(builder.fadd(builder.load(total_derivative), builder.fmul(dg_value, x)),
                              total_derivative)
            builder.store(builder.load(total), _pointer(context, builder, sig.args[0], out_array, o), align=8)
            builder.store(builder.load(total_derivative),
                          _pointer(context, builder, sig.args[1], derivative_array, o), align=8)
            return context.get_dummy_value()

        return signature, codegen

    return contraction


#: ``contract_own(out, out_derivative, o, A, a, unused, stride, g, dg, k, count)``:
#: ``out[o:o+4] = Σ_n g[k+n] A[a + n·stride : +4]`` and ``out_derivative`` the
#: same with ``dg``, n = 0 .. count−1, summed from 0 in order of n
contract_own = _radial_contraction(None)
#: as :data:`contract_own` with ``A[a + n·stride] + A[b + n·stride]`` (b the sixth argument)
contract_sum = _radial_contraction("add")
#: as :data:`contract_own` with ``A[a + n·stride] − A[b + n·stride]``
contract_difference = _radial_contraction("sub")

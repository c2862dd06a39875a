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
element offsets; a run of ``width`` values is taken eight at a time, then
four, then one, so every element read or written lies in the run (no bounds
checks: the calling kernels size their arrays).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: the adjoint's rows are padded to whole vectors of this many doubles
LANES = 4


def _is_flat(array_type, dtype=types.float64):
    """A C-contiguous 1-D array of ``dtype`` (float64 values, int64 indices)."""
    return (isinstance(array_type, types.Array) and array_type.ndim == 1 and array_type.layout == "C"
            and array_type.dtype == dtype)


def _vector_type(lanes):
    return ir.VectorType(ir.DoubleType(), lanes)


def _vector_at(builder, data, index, lanes):
    """Pointer to the ``lanes`` doubles from ``data[index]``."""
    return builder.bitcast(builder.gep(data, [index]), _vector_type(lanes).as_pointer())


def _splat(builder, value, lanes):
    undefined = ir.Constant(_vector_type(lanes), ir.Undefined)
    first = builder.insert_element(undefined, value, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(first, undefined, ir.Constant(ir.VectorType(ir.IntType(32), lanes),
                                                                [0] * lanes))


def _for_each_vector(builder, width, emit):
    """Call ``emit(lanes, n)`` for vectors of 8 lanes from n = 0 over ``width``
    (a runtime count), then one of 4 and single lanes for what is left."""
    integer = width.type
    eight, four = ir.Constant(integer, 8), ir.Constant(integer, 4)
    n_eights = builder.sdiv(width, eight)
    with cgutils.for_range(builder, n_eights) as loop:
        emit(8, builder.mul(loop.index, eight))
    done = builder.mul(n_eights, eight)
    with builder.if_then(builder.icmp_signed(">=", builder.sub(width, done), four)):
        emit(4, done)
    done = builder.mul(builder.sdiv(width, four), four)
    with cgutils.for_range(builder, builder.sub(width, done)) as loop:
        emit(1, builder.add(done, loop.index))


@intrinsic
def sum_scaled_rows(typingctx, rows, with_rate, out, out_rate, out_offset, out_stride, g, dg, row_of, shift,
                    Y, gY, y_of, lm, sign, start, count, width):
    """``sum_scaled_rows(rows, with_rate, out, out_rate, o, out_stride, g, dg, row_of,
    shift, Y, gY, y_of, lm, sign, start, count, width)``, ``rows`` and
    ``with_rate`` constants: for r < rows and i < width,
    ``out[o + r·out_stride + i] = Σ_j g[row_of[j] + shift + i] · y_jr`` with
    ``y_jr = sign[j] · Y[y_of[j] + lm + r]``, j = start .. start + count − 1,
    summed from 0 in order of j; with the rate also ``out_rate[…] = Σ_j
    (dg[…] · y_jr + g[…] · (sign[j] · gY[y_of[j] + lm + r]))``. Eight values of
    i at a time, then four, then one; the rows share the loads of g and dg,
    and their sums are independent chains held in registers."""
    if not (isinstance(rows, types.IntegerLiteral) and rows.literal_value >= 1
            and isinstance(with_rate, types.BooleanLiteral)
            and all(_is_flat(a) for a in (out, out_rate, g, dg, Y, gY, sign))
            and _is_flat(row_of, types.int64) and _is_flat(y_of, types.int64)):
        return None
    n_rows, rate_wanted = rows.literal_value, with_rate.literal_value
    signature = types.void(rows, with_rate, out, out_rate, types.intp, types.intp, g, dg, row_of,
                           types.intp, Y, gY, y_of, types.intp, sign, types.intp, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        def data(i):
            return context.make_array(sig.args[i])(context, builder, args[i]).data

        out_data, rate_data, g_data, dg_data, row_data, Y_data, gY_data, y_data, sign_data = (
            data(i) for i in (2, 3, 6, 7, 8, 10, 11, 12, 14))
        o, stride, shift_, lm_, first, count_, width_ = (args[i] for i in (4, 5, 9, 13, 15, 16, 17))

        def emit(lanes, n):
            zero = ir.Constant(_vector_type(lanes), [0.0] * lanes)
            totals = [cgutils.alloca_once_value(builder, zero) for _ in range(n_rows)]
            rate_totals = [cgutils.alloca_once_value(builder, zero) for _ in range(n_rows)]
            with cgutils.for_range(builder, count_) as loop:
                j = builder.add(first, loop.index)
                at = builder.add(builder.add(builder.load(builder.gep(row_data, [j])), shift_), n)
                y_at = builder.add(builder.load(builder.gep(y_data, [j])), lm_)
                factor = builder.load(builder.gep(sign_data, [j]))
                g_value = builder.load(_vector_at(builder, g_data, at, lanes), align=8)
                if rate_wanted:
                    dg_value = builder.load(_vector_at(builder, dg_data, at, lanes), align=8)
                for r in range(n_rows):
                    y_index = builder.add(y_at, ir.Constant(y_at.type, r))
                    y_value = builder.load(builder.gep(Y_data, [y_index]))
                    scale = _splat(builder, builder.fmul(factor, y_value), lanes)
                    builder.store(builder.fadd(builder.load(totals[r]), builder.fmul(g_value, scale)),
                                  totals[r])
                    if rate_wanted:
                        along = builder.fmul(factor, builder.load(builder.gep(gY_data, [y_index])))
                        change = builder.fadd(builder.fmul(dg_value, scale),
                                              builder.fmul(g_value, _splat(builder, along, lanes)))
                        builder.store(builder.fadd(builder.load(rate_totals[r]), change), rate_totals[r])
            for r in range(n_rows):
                row = builder.add(builder.add(o, builder.mul(stride, ir.Constant(stride.type, r))), n)
                builder.store(builder.load(totals[r]), _vector_at(builder, out_data, row, lanes), align=8)
                if rate_wanted:
                    builder.store(builder.load(rate_totals[r]), _vector_at(builder, rate_data, row, lanes),
                                  align=8)

        _for_each_vector(builder, width_, emit)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def contract(typingctx, combine, out, out_derivative, out_offset, A, own_offset, other_offset, stride, g,
             dg, g_offset, count, width):
    """``contract(combine, out, out_derivative, o, A, a, b, stride, g, dg, k, count,
    width)`` with ``combine`` a constant: for i < width, ``out[o + i] = Σ_n
    g[k+n] x_n`` and ``out_derivative`` the same with ``dg``, n = 0 .. count−1,
    summed from 0 in order of n, where ``x_n = A[a + i + n·stride]``
    (``combine`` 0), that plus (1) or minus (2) ``A[b + i + n·stride]``. Eight
    values of i at a time, then four, then one, the sums held in registers."""
    if not (isinstance(combine, types.IntegerLiteral) and combine.literal_value in (0, 1, 2)
            and all(_is_flat(array) for array in (out, out_derivative, A, g, dg))):
        return None
    kind = combine.literal_value
    signature = types.void(combine, out, out_derivative, types.intp, A, types.intp, types.intp, types.intp,
                           g, dg, types.intp, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        out_array, derivative_array, o, A_array, own, other, step, g_array, dg_array, k, n, width = args[1:]
        out_data, derivative_data, A_data, g_data, dg_data = (
            context.make_array(sig.args[i])(context, builder, args[i]).data for i in (1, 2, 4, 8, 9))

        def emit(lanes, i):
            zero = ir.Constant(_vector_type(lanes), [0.0] * lanes)
            total = cgutils.alloca_once_value(builder, zero)
            total_derivative = cgutils.alloca_once_value(builder, zero)
            with cgutils.for_range(builder, n) as loop:
                shift = builder.add(builder.mul(loop.index, step), i)
                x = builder.load(_vector_at(builder, A_data, builder.add(own, shift), lanes), align=8)
                if kind:
                    y = builder.load(_vector_at(builder, A_data, builder.add(other, shift), lanes), align=8)
                    x = builder.fadd(x, y) if kind == 1 else builder.fsub(x, y)
                radial_index = builder.add(k, loop.index)
                g_value = _splat(builder, builder.load(builder.gep(g_data, [radial_index])), lanes)
                dg_value = _splat(builder, builder.load(builder.gep(dg_data, [radial_index])), lanes)
                builder.store(builder.fadd(builder.load(total), builder.fmul(g_value, x)), total)
                builder.store(builder.fadd(builder.load(total_derivative), builder.fmul(dg_value, x)),
                              total_derivative)
            at = builder.add(o, i)
            builder.store(builder.load(total), _vector_at(builder, out_data, at, lanes), align=8)
            builder.store(builder.load(total_derivative), _vector_at(builder, derivative_data, at, lanes),
                          align=8)

        _for_each_vector(builder, width, emit)
        return context.get_dummy_value()

    return signature, codegen


@intrinsic
def pair_charge_sums(typingctx, W, w_at, AG, ADG, block_stride, gY, gY_at, u, u_at, l_max):
    """``pair_charge_sums(W, w, AG, ADG, stride, gY, y, u, v, l_max)``: the 3×3
    ``W[w + 3a + β] = u[v + β] Σ_lm ADG[a, lm] gY[y + 4 lm + 3] + Σ_lm AG[a, lm]
    gY[y + 4 lm + β]``, lm over l = 0 .. l_max in order, where ``AG[a, lm]`` is
    ``AG[l·stride + a (2l+1) + m]`` (the same for ``ADG``) and ``gY`` holds four
    values per lm (the three gradient components, then Y). Each a keeps one
    four-lane sum of AG·gY and one of ADG·gY in registers; only their first
    three lanes and their last are used, so every number is the scalar sum's."""
    if not all(_is_flat(array) for array in (W, AG, ADG, gY, u)):
        return None
    signature = types.void(W, types.intp, AG, ADG, types.intp, gY, types.intp, u, types.intp, types.intp)

    def codegen(context, builder, sig, args):
        W_array, w, AG_array, ADG_array, stride, gY_array, y, u_array, v, top = args
        W_data, AG_data, ADG_data, gY_data, u_data = (
            context.make_array(sig.args[i])(context, builder, args[i]).data for i in (0, 2, 3, 5, 7))
        integer = stride.type
        zero = ir.Constant(_vector_type(4), [0.0] * 4)
        totals = [cgutils.alloca_once_value(builder, zero) for _ in range(3)]
        rate_totals = [cgutils.alloca_once_value(builder, zero) for _ in range(3)]
        with cgutils.for_range(builder, builder.add(top, ir.Constant(integer, 1))) as l_loop:
            l = l_loop.index
            width = builder.add(builder.mul(l, ir.Constant(integer, 2)), ir.Constant(integer, 1))
            block = builder.mul(l, stride)
            first_lm = builder.mul(l, l)
            with cgutils.for_range(builder, width) as m_loop:
                m = m_loop.index
                lm = builder.add(first_lm, m)
                at = builder.add(y, builder.mul(lm, ir.Constant(integer, 4)))
                values = builder.load(_vector_at(builder, gY_data, at, 4), align=8)
                for a in range(3):
                    index = builder.add(builder.add(block, builder.mul(width, ir.Constant(integer, a))), m)
                    ag = _splat(builder, builder.load(builder.gep(AG_data, [index])), 4)
                    adg = _splat(builder, builder.load(builder.gep(ADG_data, [index])), 4)
                    builder.store(builder.fadd(builder.load(totals[a]), builder.fmul(ag, values)), totals[a])
                    builder.store(builder.fadd(builder.load(rate_totals[a]), builder.fmul(adg, values)),
                                  rate_totals[a])
        for a in range(3):
            total = builder.load(totals[a])
            radial = builder.extract_element(builder.load(rate_totals[a]), ir.Constant(ir.IntType(32), 3))
            for beta in range(3):
                direction = builder.load(builder.gep(u_data, [builder.add(v, ir.Constant(integer, beta))]))
                value = builder.fadd(builder.fmul(radial, direction),
                                     builder.extract_element(total, ir.Constant(ir.IntType(32), beta)))
                target = builder.gep(W_data, [builder.add(w, ir.Constant(integer, 3 * a + beta))])
                builder.store(value, target)
        return context.get_dummy_value()

    return signature, codegen

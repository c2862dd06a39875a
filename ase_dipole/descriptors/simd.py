"""Explicit float64 vector operations for the numba kernels.

LLVM's loop vectoriser leaves the kernels' short loops (one radial index,
n_max = 8; one l-block of the adjoint) scalar, and numba keeps superword
vectorisation off, so these numba intrinsics emit the vector instructions
themselves (``<4 x double>`` and ``<8 x double>`` in LLVM IR, which LLVM
splits where the CPU has narrower registers). Each lane does the
multiplications and additions of the scalar loop it replaces, in the same
order and without fused multiply–adds, so results are bit-identical to it.

Arguments are C-contiguous 1-D float64 arrays and element offsets; the
elements a vector covers from each offset must lie inside the array (no
bounds checks: the calling kernels pad their arrays to whole vectors, or
finish a row with scalar code).
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


def _add_scaled(lanes):
    """The intrinsic ``out[o:o+lanes] += x[i:i+lanes] * scale``."""

    @intrinsic
    def add_scaled(typingctx, out, out_offset, x, x_offset, scale):
        if not (_is_vector_array(out) and _is_vector_array(x)):
            return None
        signature = types.void(out, types.intp, x, types.intp, types.float64)

        def codegen(context, builder, sig, args):
            out_array, o, x_array, i, factor = args
            target = _pointer(context, builder, sig.args[0], out_array, o, lanes)
            value = builder.load(_pointer(context, builder, sig.args[2], x_array, i, lanes), align=8)
            product = builder.fmul(value, _splat(builder, factor, lanes))
            builder.store(builder.fadd(builder.load(target, align=8), product), target, align=8)
            return context.get_dummy_value()

        return signature, codegen

    return add_scaled


def _add_scaled_with_rate(lanes):
    """The intrinsic ``out[o:o+lanes] += g[i:i+lanes] * scale`` and
    ``out_rate[o:o+lanes] += dg[i:i+lanes] * scale + g[i:i+lanes] * rate_scale``."""

    @intrinsic
    def add_scaled_with_rate(typingctx, out, out_rate, offset, g, dg, g_offset, scale, rate_scale):
        if not all(_is_vector_array(array) for array in (out, out_rate, g, dg)):
            return None
        signature = types.void(out, out_rate, types.intp, g, dg, types.intp, types.float64, types.float64)

        def codegen(context, builder, sig, args):
            out_array, rate_array, o, g_array, dg_array, i, factor, rate_factor = args
            g_value = builder.load(_pointer(context, builder, sig.args[3], g_array, i, lanes), align=8)
            dg_value = builder.load(_pointer(context, builder, sig.args[4], dg_array, i, lanes), align=8)
            scale_vector = _splat(builder, factor, lanes)
            target = _pointer(context, builder, sig.args[0], out_array, o, lanes)
            builder.store(builder.fadd(builder.load(target, align=8), builder.fmul(g_value, scale_vector)),
                          target, align=8)
            rate = _pointer(context, builder, sig.args[1], rate_array, o, lanes)
            change = builder.fadd(builder.fmul(dg_value, scale_vector),
                                  builder.fmul(g_value, _splat(builder, rate_factor, lanes)))
            builder.store(builder.fadd(builder.load(rate, align=8), change), rate, align=8)
            return context.get_dummy_value()

        return signature, codegen

    return add_scaled_with_rate


#: ``add_scaledK(out, o, x, i, scale)``: ``out[o:o+K] += x[i:i+K] * scale``
add_scaled4, add_scaled8 = _add_scaled(4), _add_scaled(8)
#: ``add_scaled_with_rateK(out, out_rate, o, g, dg, i, scale, rate_scale)``: as
#: add_scaledK of g into out, and ``out_rate[o:o+K] += dg[i:i+K] * scale +
#: g[i:i+K] * rate_scale``
add_scaled_with_rate4, add_scaled_with_rate8 = _add_scaled_with_rate(4), _add_scaled_with_rate(8)


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

"""int8 RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, bit-exact with TFLite's reference kernels.

Both move stored values only (TFLite interpolates the int8 values as they are, whatever the
quantization), so every source index and weight is a compile-time table per output row and
column. Bilinear is TFLite's ResizeBilinearInteger: positions in 1/1024 steps, the four products
summed in units of 2^-20 and rounded half away from zero; every term fits int32 (|v| <= 128,
weights <= 1280 each), so no 64-bit arithmetic is needed.
"""

from __future__ import annotations

import numpy as np
from tvm import relax, te, tirx

from .te_kernels import resize_nearest_indices, resize_nearest_te


def _tdiv(a: np.ndarray | int, b: int) -> np.ndarray:
    """C's integer division (truncates toward zero)."""
    a = np.asarray(a, np.int64)
    return np.sign(a) * (np.abs(a) // b)


def bilinear_tables(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool):
    """(lower index, upper index, weight of the upper one in 1/1024) per output position, as
    TFLite's ComputeInterpolationValuesInteger computes them."""
    scale_10 = (1024 * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale_10 = (1024 * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    pos = np.arange(out_size, dtype=np.int64) * scale_10
    if half_pixel_centers:
        pos = pos + scale_10 // 2 - 512
    lower = np.maximum(_tdiv(pos, 1024), 0)
    upper = np.minimum(_tdiv(pos + 1023, 1024), in_size - 1)
    weight = pos - 1024 * lower
    return lower.astype(np.int32), upper.astype(np.int32), weight.astype(np.int32)


def resize_bilinear_te(x, y0, y1, wy, x0, x1, wx, out_shape):
    def value(n, y, x_, c):
        def at(r, col):
            return tirx.Cast("int32", x[n, r, col, c])

        one = tirx.const(1024, "int32")
        total = (at(y0[y], x0[x_]) * (one - wy[y]) * (one - wx[x_]) + at(y1[y], x0[x_]) * wy[y] * (one - wx[x_])
                 + at(y0[y], x1[x_]) * (one - wy[y]) * wx[x_] + at(y1[y], x1[x_]) * wy[y] * wx[x_])
        half = tirx.const(1 << 19, "int32")
        rounded = tirx.Select(total > 0, total + half, total - half)
        return tirx.Cast(x.dtype, tirx.truncdiv(rounded, tirx.const(1 << 20, "int32")))

    return te.compute(out_shape, value, name="resize_bilinear")


def resize_call(conv, op, ins, outs, bilinear: bool):
    """The converter of both operators (conv: the TFLite OperatorConverter), or NotImplemented
    for what TVM's converter should take (not NHWC, a size computed at run time)."""
    from tflite.ResizeBilinearOptions import ResizeBilinearOptions
    from tflite.ResizeNearestNeighborOptions import ResizeNearestNeighborOptions

    opts = conv._options(op, ResizeBilinearOptions if bilinear else ResizeNearestNeighborOptions)
    in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
    out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
    if len(in_shape) != 4 or conv.has_expr(ins[1].tensor_idx):
        return NotImplemented
    align, half = bool(opts.AlignCorners()), bool(opts.HalfPixelCenters())
    x = conv._expr(ins[0])
    if not bilinear:
        rows = resize_nearest_indices(in_shape[1], out_shape[1], align, half)
        cols = resize_nearest_indices(in_shape[2], out_shape[2], align, half)
        return conv.bb.call_te(lambda x_, r_, c_: resize_nearest_te(x_, r_, c_, out_shape), x,
                               relax.const(rows), relax.const(cols), primfunc_name_hint="resize_nearest_int8")
    tables = [relax.const(t) for t in (*bilinear_tables(in_shape[1], out_shape[1], align, half),
                                       *bilinear_tables(in_shape[2], out_shape[2], align, half))]
    return conv.bb.call_te(lambda x_, *t: resize_bilinear_te(x_, *t, out_shape), x, *tables,
                           primfunc_name_hint="resize_bilinear_int8")

"""The converters mixed into TVM's TFLite OperatorConverter: each int8 operator built from the
parameters (params.py) and kernels (te_kernels.py, tables.py) of this package."""

from __future__ import annotations

import numpy as np
from tvm import relax, te, tirx

from ...errors import UnsupportedModelError
from .ops import INTEGER_ONLY_INT8_OPS
from .params import (
    _tensor_quant, activation_range, add_params, mean_params, output_requant_params, quantize_multiplier,
    requant_tables, round_half_away, softmax_params, squared_difference_params,
)
from .te_kernels import (
    add_te, arg_max_min_te, batch_matmul_te, batch_to_space_te, conv1x1_te, conv2d_te, dwconv_te, lut_te,
    mean_te, min_max_te, mul_te, prelu_te, quantize_float_te, reduce_max_min_te, rescale_te,
    softmax_te, space_to_batch_te, squared_difference_te,
    transpose_conv_pads, transpose_conv_te,
)
from . import lstm
from .elementwise_call import add_call, mul_call
from .fc_call import fc_call
from .gemm_call import conv_gemm_call, depthwise_call, depthwise_fits, gemm_enabled
from .resize import resize_call
from .tables import _gelu, hard_swish_table, populate_lut

# ------------------------------------------------------------------------------- the converters


class IntegerConverters:
    """Mixed into TVM's TFLite OperatorConverter (see frontend.py): int8 ops in integers."""

    # TFLite operator -> the method computing it in integers (int8 in, int8 out). A method may
    # return NotImplemented for a case it does not cover: TVM's converter then takes it.
    INTEGER_CONVERTERS = {
        "CONV_2D": "_int_conv2d", "DEPTHWISE_CONV_2D": "_int_depthwise", "TRANSPOSE_CONV": "_int_transpose_conv",
        "FULLY_CONNECTED": "_int_fully_connected", "BATCH_MATMUL": "_int_batch_matmul",
        "ADD": "_int_add", "SUB": "_int_sub", "MUL": "_int_mul", "SQUARED_DIFFERENCE": "_int_squared_difference", "MAXIMUM": "_int_maximum", "MINIMUM": "_int_minimum",
        "AVERAGE_POOL_2D": "_int_avg_pool", "MEAN": "_int_mean", "REDUCE_MAX": "_int_reduce_max",
        "REDUCE_MIN": "_int_reduce_min", "SOFTMAX": "_int_softmax",
        "RELU": "_int_relu", "RELU6": "_int_relu6", "RELU_N1_TO_1": "_int_relu_n1_to_1", "LEAKY_RELU": "_int_leaky_relu",
        "ABS": "_int_abs", "NEG": "_int_neg", "QUANTIZE": "_int_quantize", "PRELU": "_int_prelu",
        "LOGISTIC": "_int_logistic", "TANH": "_int_tanh", "GELU": "_int_gelu", "EXP": "_int_exp", "LOG": "_int_log",
        "RSQRT": "_int_rsqrt",
        "HARD_SWISH": "_int_hard_swish",
        "CONCATENATION": "_int_concat", "RESIZE_NEAREST_NEIGHBOR": "_int_resize_nearest",
        "RESIZE_BILINEAR": "_int_resize_bilinear",
    }

    def install_integer_converters(self) -> None:
        for name, method in self.INTEGER_CONVERTERS.items():
            self.convert_map[name] = self._integer_or(getattr(self, method), self.convert_map[name])
        self.convert_map["QUANTIZE"] = self._float_quantize_or(self.convert_map["QUANTIZE"])
        self.convert_map["UNIDIRECTIONAL_SEQUENCE_LSTM"] = lambda op: lstm.convert(self, op)  # float and int8
        for name in lstm.REFUSED:  # TVM's converters compute only the CIFG LSTM: refused by name instead
            self.convert_map.pop(name, None)
        self.convert_map["ARG_MAX"] = lambda op: self._arg_max_min(op, maximum=True)
        self.convert_map["ARG_MIN"] = lambda op: self._arg_max_min(op, maximum=False)

    def _arg_max_min(self, op, maximum: bool):
        """Any input type: the stored values compare as the real ones do (scales are positive)."""
        ins, outs = self.get_input_tensors(op), self.get_output_tensors(op)
        if self.has_expr(ins[1].tensor_idx):
            raise UnsupportedModelError(f"{self.get_op_code_str(op)} with an axis computed at run time")
        rank = len(ins[0].tensor.ShapeAsNumpy())
        axis = int(np.asarray(self.get_tensor_value(ins[1])).reshape(-1)[0]) % rank
        out_dtype = self.get_tensor_type_str(outs[0].tensor.Type())
        if out_dtype not in ("int32", "int16", "int8", "uint8"):
            raise UnsupportedModelError(f"{self.get_op_code_str(op)} with {out_dtype} indices (int32 expected)")
        positions = np.arange(int(ins[0].tensor.ShapeAsNumpy()[axis]), dtype=np.int32)
        return self.bb.call_te(lambda x_, p_: arg_max_min_te(x_, p_, axis, maximum, out_dtype), self._expr(ins[0]),
                               relax.const(positions), primfunc_name_hint="arg_max" if maximum else "arg_min")

    def _float_quantize_or(self, other):
        """QUANTIZE float32 -> int8 (a model's float input) rounded as TFLite rounds."""
        def convert(op):
            ins, outs = self.get_input_tensors(op), self.get_output_tensors(op)
            if ins[0].tensor.Type() == 0 and outs[0].tensor.Type() == 9 and outs[0].qnn_params is not None:
                s, z, _ = _tensor_quant(outs[0])
                if s.size == 1:
                    return self.bb.call_te(lambda x_: quantize_float_te(x_, float(s[0]), int(z[0])),
                                           self._expr(ins[0]), primfunc_name_hint="quantize")
            return other(op)

        return convert

    def _integer_or(self, method, fallback):
        def convert(op):
            ins = self.get_input_tensors(op)
            outs = self.get_output_tensors(op)
            # The activation input: the first, but TRANSPOSE_CONV's is its third (after the shape
            # and the weights).
            data = ins[2:3] if self.get_op_code_str(op) == "TRANSPOSE_CONV" else ins[:1]
            types = [t.tensor.Type() for t in data + outs]
            int8 = 9  # tflite.TensorType.INT8
            if all(t == int8 for t in types) and all(t.qnn_params is not None for t in data + outs):
                result = method(op, ins, outs)
                if result is not NotImplemented:
                    return result
            name = self.get_op_code_str(op)
            if name in INTEGER_ONLY_INT8_OPS and any(t.qnn_params is not None for t in ins[:1] + outs):
                # TVM's own converter would apply the float op to the stored integers.
                raise UnsupportedModelError(f"quantized {name} other than int8 in, int8 out")
            return fallback(op)

        return convert

    # -- helpers
    def _io_quant(self, ins, outs):
        si, zi, _ = _tensor_quant(ins[0])
        so, zo, _ = _tensor_quant(outs[0])
        return si[0], int(zi[0]), so[0], int(zo[0])

    def _weights(self, op, tensor):
        if self.has_expr(tensor.tensor_idx):
            raise UnsupportedModelError("quantized weights computed at run time (not constants)")
        w = self.get_tensor_value(tensor)
        ws, wz, wdim = _tensor_quant(tensor)
        if np.any(wz != 0):
            raise UnsupportedModelError("int8 weights with a non-zero zero point (asymmetric weights)")
        return w, ws, wdim

    def _bias(self, ins, channels: int) -> np.ndarray:
        if len(ins) < 3 or ins[2].tensor_idx == -1:
            return np.zeros(channels, dtype="int32")
        b = self.get_tensor_value(ins[2])
        if b.dtype != np.int32:
            raise UnsupportedModelError(f"quantized bias of type {b.dtype} (int32 expected)")
        return b.reshape(channels)

    def _expr(self, tensor):
        """The tensor's Relax value: a bound variable or a constant (see frontend.Converter)."""
        return self.get_tensor_expr(tensor)

    def _options(self, op, cls):
        """The op's builtin options as `cls`; an absent table reads as all schema defaults
        (converters may omit e.g. AddOptions when there is no fused activation)."""
        o = op.BuiltinOptions()
        if o is None:
            import flatbuffers
            import tflite

            b = flatbuffers.Builder(0)
            getattr(tflite, f"{cls.__name__}Start")(b)
            b.Finish(getattr(tflite, f"{cls.__name__}End")(b))
            return cls.GetRootAs(b.Output(), 0)
        opts = cls()
        opts.Init(o.Bytes, o.Pos)
        return opts

    # -- operators
    def _int_conv2d(self, op, ins, outs):
        from tflite.Conv2DOptions import Conv2DOptions

        return self._conv(op, ins, outs, self._options(op, Conv2DOptions), depthwise=False)

    def _int_depthwise(self, op, ins, outs):
        from tflite.DepthwiseConv2DOptions import DepthwiseConv2DOptions

        return self._conv(op, ins, outs, self._options(op, DepthwiseConv2DOptions), depthwise=True)

    def _conv(self, op, ins, outs, opts, depthwise: bool):
        from tflite.Padding import Padding

        from tvm.relax.frontend.tflite.tflite_frontend import get_pad_value

        si, zi, so, zo = self._io_quant(ins, outs)
        w, ws, _ = self._weights(op, ins[1])
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        out_c = out_shape[3]
        bias, rq = requant_tables(w, 3 if depthwise else 0, self._bias(ins, out_c),
                                  *output_requant_params(si, ws, so, out_c))
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        strides = (opts.StrideH(), opts.StrideW())
        dilation = (opts.DilationHFactor(), opts.DilationWFactor())
        kh, kw = int(w.shape[1]), int(w.shape[2])
        pads = (0, 0)
        if opts.Padding() == Padding.SAME:
            pt, _ = get_pad_value(in_shape[1], dilation[0] * (kh - 1) + 1, strides[0])
            pl, _ = get_pad_value(in_shape[2], dilation[1] * (kw - 1) + 1, strides[1])
            pads = (pt, pl)
        dm = opts.DepthMultiplier() if depthwise else None
        if not depthwise and (in_shape[3] % int(w.shape[3]) or out_c % (in_shape[3] // int(w.shape[3]))):
            raise UnsupportedModelError("int8 CONV_2D whose filter depth does not divide the input channels into groups")
        x = self._expr(ins[0])
        pointwise = (not depthwise and kh == kw == 1 and strides == (1, 1) and pads == (0, 0)
                     and int(w.shape[3]) == in_shape[3])
        if depthwise and dm == 1 and in_shape[0] == 1 and out_c == in_shape[3] and gemm_enabled() \
                and depthwise_fits((kh, kw)):  # DSP cores: runtime/aotgen_depthwise_s8.h
            return depthwise_call(self.bb, x, w, self._bias(ins, out_c), zi, zo, lo, hi,
                                  output_requant_params(si, ws, so, out_c), out_shape,
                                  strides=strides, dilation=dilation, pads=pads)
        if depthwise and dm == 1 and in_shape[0] == 1 and out_c == in_shape[3]:  # the SIMD micro-kernel
            return self.bb.call_te(
                lambda x_, w_, b_, *r_: dwconv_te(x_, w_, b_, r_, rq=rq, strides=strides, dilation=dilation, pads=pads,
                                                  zp_in=zi, zp_out=zo, lo=lo, hi=hi, out_shape=out_shape),
                x, relax.const(w), relax.const(bias), *map(relax.const, rq.tensors), primfunc_name_hint="dwconv_int8")
        # On DSP cores every convolution: (im2col +) the 3x2 SMLAD GEMM (runtime/aotgen_conv_gemm_s8.h)
        if not depthwise and gemm_enabled() and in_shape[0] == 1 and int(w.shape[3]) == in_shape[3]:
            return conv_gemm_call(self.bb, x, w, self._bias(ins, out_c), zi, zo, lo, hi,
                                  output_requant_params(si, ws, so, out_c), out_shape,
                                  strides=strides, dilation=dilation, pads=pads)
        if pointwise:  # elsewhere, the plain-C pointwise kernel (runtime/aotgen_conv_s8.h)
            return self.bb.call_te(
                lambda x_, w_, b_, *r_: conv1x1_te(x_, w_, b_, r_, rq=rq, zp_in=zi, zp_out=zo, lo=lo, hi=hi,
                                                   out_shape=out_shape),
                x, relax.const(w), relax.const(bias), *map(relax.const, rq.tensors), primfunc_name_hint="conv1x1_int8")
        return self.bb.call_te(
            lambda x_, w_, b_, *r_: conv2d_te(
                x_, w_, b_, r_, rq=rq, strides=strides, dilation=dilation, pads=pads, zp_in=zi, zp_out=zo,
                lo=lo, hi=hi, out_shape=out_shape, depth_multiplier=dm, out_dtype="int8"),
            x, relax.const(w), relax.const(bias), *map(relax.const, rq.tensors),
            primfunc_name_hint="dwconv2d_int8" if depthwise else "conv2d_int8",
        )

    # -- layout ops TVM 0.27 lowers to packed runtime calls (no C kernel): any dtype
    def _block_layout(self, op):
        ins, outs = self.get_input_tensors(op), self.get_output_tensors(op)
        if len(ins[0].tensor.ShapeAsNumpy()) != 4 or any(self.has_expr(t.tensor_idx) for t in ins[1:]):
            raise UnsupportedModelError(f"{self.get_op_code_str(op)} other than 4-D with constant block and paddings")
        block = [int(v) for v in self.get_tensor_value(ins[1])]
        pads = [[int(a), int(b)] for a, b in self.get_tensor_value(ins[2]).reshape(2, 2)]
        return ins, outs, block, pads, [int(d) for d in outs[0].tensor.ShapeAsNumpy()]

    def convert_space_to_batch_nd(self, op):
        ins, outs, block, pads, out_shape = self._block_layout(op)
        # Quantized tensors pad with the output zero point (space_to_batch_nd.cc), floats with 0.
        pad_value = int(_tensor_quant(outs[0])[1][0]) if outs[0].qnn_params is not None else 0
        return self.bb.call_te(lambda x_: space_to_batch_te(x_, block, pads, pad_value, out_shape),
                               self._expr(ins[0]), primfunc_name_hint="space_to_batch_nd")

    def convert_batch_to_space_nd(self, op):
        ins, _, block, crops, out_shape = self._block_layout(op)
        return self.bb.call_te(lambda x_: batch_to_space_te(x_, block, crops, out_shape), self._expr(ins[0]),
                               primfunc_name_hint="batch_to_space_nd")

    def _int_transpose_conv(self, op, ins, outs):
        from tflite.TransposeConvOptions import TransposeConvOptions

        opts = self._options(op, TransposeConvOptions)
        x_t = ins[2]
        si, zi, so, zo = self._io_quant([x_t], outs)
        w, ws, _ = self._weights(op, ins[1])
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        in_shape = [int(d) for d in x_t.tensor.ShapeAsNumpy()]
        out_c = out_shape[3]
        kh, kw = int(w.shape[1]), int(w.shape[2])
        strides = (opts.StrideH(), opts.StrideW())
        pads = (transpose_conv_pads(opts.Padding(), out_shape[1], in_shape[1], kh, strides[0]),
                transpose_conv_pads(opts.Padding(), out_shape[2], in_shape[2], kw, strides[1]))
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        bias = self._bias(ins[:1] + ins[1:2] + ins[3:4], out_c)  # the bias is the 4th input here
        bias, rq = requant_tables(w, 0, bias, *output_requant_params(si, ws, so, out_c))
        return self.bb.call_te(
            lambda x_, w_, b_, *r_: transpose_conv_te(x_, w_, b_, r_, rq=rq, strides=strides, pads=pads, zp_in=zi,
                                                      zp_out=zo, lo=lo, hi=hi, out_shape=out_shape),
            self._expr(x_t), relax.const(w), relax.const(bias), *map(relax.const, rq.tensors),
            primfunc_name_hint="transpose_conv_int8")

    def _int_fully_connected(self, op, ins, outs):
        from tflite.FullyConnectedOptions import FullyConnectedOptions

        opts = self._options(op, FullyConnectedOptions)
        si, zi, so, zo = self._io_quant(ins, outs)
        w, ws, _ = self._weights(op, ins[1])
        out_c, in_c = int(w.shape[0]), int(w.shape[1])
        bias, rq = requant_tables(w, 0, self._bias(ins, out_c),
                                  *output_requant_params(si, ws, so, out_c),
                                  single_rounding=True)
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        x = self._expr(ins[0])
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        flat = [int(np.prod(in_shape)) // in_c, in_c]
        # A no-op reshape would survive fusion as a copy kernel.
        x2 = x if in_shape == flat else self.bb.emit(relax.op.reshape(x, flat))
        y = fc_call(self.bb, x2, w, bias, rq, zi, zo, lo, hi)  # the C kernel (runtime/aotgen_fc_s8.h)
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        return y if out_shape == flat[:1] + [out_c] else relax.op.reshape(y, out_shape)

    def _int_batch_matmul(self, op, ins, outs):
        from tflite.BatchMatMulOptions import BatchMatMulOptions

        if ins[1].qnn_params is None or ins[1].tensor.Type() != 9:
            return NotImplemented
        opts = self._options(op, BatchMatMulOptions)
        sl, zl, so, zo = self._io_quant(ins, outs)
        sr, zr, _ = _tensor_quant(ins[1])
        if sr.size != 1:
            raise UnsupportedModelError("int8 BATCH_MATMUL with per-channel quantization")
        # batch_matmul.cc: GetQuantizedConvolutionMultipler, the two scales multiplied in float.
        mult, shift = quantize_multiplier(float(np.float32(sl) * np.float32(sr[0])) / float(so))
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        adj_x, adj_y = bool(opts.AdjX()), bool(opts.AdjY())
        return self.bb.call_te(
            lambda a_, b_: batch_matmul_te(a_, b_, adj_x=adj_x, adj_y=adj_y, zp_l=zl, zp_r=int(zr[0]), multiplier=mult,
                                           shift=shift, zp_out=zo, out_shape=out_shape),
            self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="batch_matmul_int8")

    def _binary_quant(self, ins, outs):
        """((scale, zero point) of both inputs and the output, output shape) of an elementwise
        int8 op, or None when the second operand is not quantized like the first."""
        if ins[1].qnn_params is None or ins[1].tensor.Type() != ins[0].tensor.Type():
            return None
        quants = []
        for t in (ins[0], ins[1], outs[0]):
            scales, zero_points, _ = _tensor_quant(t)
            quants.append((scales[0], int(zero_points[0])))
        return (*quants, [int(d) for d in outs[0].tensor.ShapeAsNumpy()])

    def _int_add(self, op, ins, outs, subtract: bool = False):
        from tflite.AddOptions import AddOptions
        from tflite.SubOptions import SubOptions

        q = self._binary_quant(ins, outs)
        if q is None:
            return NotImplemented
        (s1, z1), (s2, z2), (so, zo), out_shape = q
        act = self._options(op, SubOptions if subtract else AddOptions).FusedActivationFunction()
        lo, hi = activation_range(act, float(so), zo, "int8")
        params = add_params(s1, z1, s2, z2, so, zo, lo, hi)
        call = add_call(self.bb, ins, outs, self._expr(ins[0]), self._expr(ins[1]), params, subtract)
        return call if call is not None else self.bb.call_te(lambda a_, b_: add_te(a_, b_, params, "int8", out_shape, subtract),
                               self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="sub_int8" if subtract else "add_int8")

    def _int_squared_difference(self, op, ins, outs):
        q = self._binary_quant(ins, outs)
        if q is None:
            return NotImplemented
        (s1, z1), (s2, z2), (so, zo), out_shape = q
        params = squared_difference_params(s1, z1, s2, z2, so, zo)
        return self.bb.call_te(lambda a_, b_: squared_difference_te(a_, b_, params, out_shape), self._expr(ins[0]),
                               self._expr(ins[1]), primfunc_name_hint="squared_difference_int8")

    def _int_sub(self, op, ins, outs):
        return self._int_add(op, ins, outs, subtract=True)

    def _int_mul(self, op, ins, outs):
        from tflite.MulOptions import MulOptions

        q = self._binary_quant(ins, outs)
        if q is None:
            return NotImplemented
        (s1, z1), (s2, z2), (so, zo), out_shape = q
        lo, hi = activation_range(self._options(op, MulOptions).FusedActivationFunction(), float(so), zo, "int8")
        # mul.cc Prepare: the scales multiplied and divided in float, then widened.
        mult, shift = quantize_multiplier(float(np.float32(s1) * np.float32(s2) / np.float32(so)))
        call = mul_call(self.bb, ins, outs, self._expr(ins[0]), self._expr(ins[1]), z1, z2, mult, shift, zo, lo, hi)
        return call if call is not None else self.bb.call_te(
            lambda a_, b_: mul_te(a_, b_, z1, z2, mult, shift, zo, lo, hi, out_shape),
            self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="mul_int8")

    def _int_min_max(self, op, ins, outs, maximum: bool):
        if ins[1].tensor.Type() != ins[0].tensor.Type():
            return NotImplemented
        out_shape = [int(d) for d in outs[0].tensor.ShapeAsNumpy()]
        return self.bb.call_te(lambda a_, b_: min_max_te(a_, b_, maximum, out_shape), self._expr(ins[0]),
                               self._expr(ins[1]), primfunc_name_hint="maximum_int8" if maximum else "minimum_int8")

    def _int_maximum(self, op, ins, outs):
        return self._int_min_max(op, ins, outs, maximum=True)

    def _int_minimum(self, op, ins, outs):
        return self._int_min_max(op, ins, outs, maximum=False)

    def _rescale(self, ins, outs, lo_real: float | None, hi_real: float | None, negative_factor=None,
                 absolute: bool = False):
        """ReluX (activations.cc QuantizedReluX: bounds via roundf(bound / scale) in float),
        Requantize and QuantizeLeakyRelu."""
        si, zi, so, zo = self._io_quant(ins, outs)
        ratio = float(si) / float(so)
        lo = -128 if lo_real is None else max(-128, zo + round_half_away(float(np.float32(lo_real) / so)))
        hi = 127 if hi_real is None else min(127, zo + round_half_away(float(np.float32(hi_real) / so)))
        identity = quantize_multiplier(ratio)
        negative = None
        if negative_factor is not None:  # leaky_relu.cc: input scale * alpha / output scale in float
            negative = quantize_multiplier(float(si * np.float32(negative_factor) / so))
        return self.bb.call_te(lambda x_: rescale_te(x_, zi, zo, lo, hi, identity, negative, absolute), self._expr(ins[0]),
                               primfunc_name_hint="rescale_int8")

    def _int_relu(self, op, ins, outs):
        return self._rescale(ins, outs, 0.0, None)

    def _int_relu6(self, op, ins, outs):
        return self._rescale(ins, outs, 0.0, 6.0)

    def _int_relu_n1_to_1(self, op, ins, outs):
        return self._rescale(ins, outs, -1.0, 1.0)

    def _int_prelu(self, op, ins, outs):
        if ins[1].qnn_params is None or ins[1].tensor.Type() != 9:
            return NotImplemented
        si, zi, so, zo = self._io_quant(ins, outs)
        sa, za, _ = _tensor_quant(ins[1])
        # activations.cc PreluPrepare: the scales combined in float, then widened.
        identity = quantize_multiplier(float(np.float32(si) / np.float32(so)))
        negative = quantize_multiplier(float(np.float32(si) * np.float32(sa[0]) / np.float32(so)))
        return self.bb.call_te(lambda x_, a_: prelu_te(x_, a_, zi, int(za[0]), zo, identity, negative),
                               self._expr(ins[0]), self._expr(ins[1]), primfunc_name_hint="prelu_int8")

    def _int_neg(self, op, ins, outs):
        """LiteRT negates the stored int8 values (-(-128) wraps to -128), whatever the
        quantization: the converter gives the output the negated zero point."""
        return self.bb.call_te(lambda x_: te.compute(x_.shape, lambda *i: tirx.Cast(
            "int8", tirx.const(0, "int32") - tirx.Cast("int32", x_(*i))), name="neg"), self._expr(ins[0]),
            primfunc_name_hint="neg_int8")

    def _int_abs(self, op, ins, outs):
        return self._rescale(ins, outs, None, None, absolute=True)

    def _int_exp(self, op, ins, outs):
        return self._lut(ins, outs, np.exp)

    def _int_log(self, op, ins, outs):
        return self._lut(ins, outs, np.log)  # log of 0 or below: -128, as on LiteRT (x86)

    def _int_rsqrt(self, op, ins, outs):
        """The float table, except that an input at the zero point (0.0) gives 127, as LiteRT's
        kernel does. TFLite fails at run time on negative inputs; their entries here are -128."""
        si, zi, so, zo = self._io_quant(ins, outs)
        table = populate_lut(si, zi, so, zo, lambda x: np.float32(1) / np.sqrt(x))
        table[zi + 128] = 127
        return self.bb.call_te(lut_te, self._expr(ins[0]), relax.const(table), primfunc_name_hint="rsqrt_int8")

    def _int_quantize(self, op, ins, outs):
        return self._rescale(ins, outs, None, None)

    def _lut(self, ins, outs, transform):
        si, zi, so, zo = self._io_quant(ins, outs)
        table = populate_lut(si, zi, so, zo, transform)
        return self.bb.call_te(lut_te, self._expr(ins[0]), relax.const(table), primfunc_name_hint="lut_int8")

    def _int_logistic(self, op, ins, outs):
        return self._lut(ins, outs, lambda x: np.float32(1) / (np.float32(1) + np.exp(-x)))

    def _int_tanh(self, op, ins, outs):
        return self._lut(ins, outs, np.tanh)

    def _int_gelu(self, op, ins, outs):
        from tflite.GeluOptions import GeluOptions

        approximate = bool(self._options(op, GeluOptions).Approximate())
        return self._lut(ins, outs, _gelu(approximate))

    def _int_hard_swish(self, op, ins, outs):
        si, zi, so, zo = self._io_quant(ins, outs)
        return self.bb.call_te(lut_te, self._expr(ins[0]), relax.const(hard_swish_table(si, zi, so, zo)),
                               primfunc_name_hint="hard_swish_int8")

    def _int_leaky_relu(self, op, ins, outs):
        from tflite.LeakyReluOptions import LeakyReluOptions

        return self._rescale(ins, outs, None, None, negative_factor=self._options(op, LeakyReluOptions).Alpha())

    def _int_avg_pool(self, op, ins, outs):
        """int8 in, int8 out (TVM's importer widens the whole input tensor to int32 first)."""
        from tflite.Padding import Padding
        from tflite.Pool2DOptions import Pool2DOptions

        from tvm.relax.frontend.tflite.tflite_frontend import get_pad_value

        si, zi, so, zo = self._io_quant(ins, outs)
        if si != so or zi != zo:
            return NotImplemented
        opts = self._options(op, Pool2DOptions)
        _, in_h, in_w, _ = (int(d) for d in ins[0].tensor.ShapeAsNumpy())
        kh, kw = opts.FilterHeight(), opts.FilterWidth()
        sh, sw = opts.StrideH(), opts.StrideW()
        padding = [0, 0, 0, 0]
        if opts.Padding() == Padding.SAME:
            pt, pb = get_pad_value(in_h, kh, sh)
            pl, pr = get_pad_value(in_w, kw, sw)
            padding = [pt, pl, pb, pr]
        # Legalized by lower._legalize_integer_avg_pool2d: int32 sums, TFLite rounding.
        y = relax.op.nn.avg_pool2d(self._expr(ins[0]), pool_size=(kh, kw), strides=(sh, sw), padding=padding,
                                   layout="NHWC")
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so), zo, "int8")
        if (lo, hi) != (-128, 127):
            y = relax.op.clip(self.bb.emit(y), lo, hi)
        return y

    def _int_softmax(self, op, ins, outs):
        from tflite.SoftmaxOptions import SoftmaxOptions

        si, _, so, zo = self._io_quant(ins, outs)
        if zo != -128 or abs(float(so) - 1.0 / 256) > 0.001 / 256:
            # TFLite's int8 softmax accepts only this output quantization (SoftmaxPrepare).
            raise UnsupportedModelError(f"int8 SOFTMAX with output scale {so} and zero point {zo} "
                                        "(TFLite requires 1/256 and -128)")
        mult, left_shift, diff_min = softmax_params(self._options(op, SoftmaxOptions).Beta(), si)
        return self.bb.call_te(lambda x_: softmax_te(x_, mult, left_shift, diff_min), self._expr(ins[0]),
                               primfunc_name_hint="softmax_int8")

    def _int_concat(self, op, ins, outs):
        """int8 concatenation: TFLite requires every input quantized like the output, so it
        only moves bytes (TVM's converter dequantizes and requantizes through float)."""
        from tflite.ConcatenationOptions import ConcatenationOptions

        so, zo, _ = _tensor_quant(outs[0])
        for t in ins:
            s, z, _ = _tensor_quant(t) if t.qnn_params is not None else (None, None, None)
            if s is None or s.size != 1 or s[0] != so[0] or z[0] != zo[0] or t.tensor.Type() != outs[0].tensor.Type():
                return NotImplemented
        opts = self._options(op, ConcatenationOptions)
        y = relax.op.concat([self._expr(t) for t in ins], axis=opts.Axis())
        lo, hi = activation_range(opts.FusedActivationFunction(), float(so[0]), int(zo[0]), "int8")
        return y if (lo, hi) == (-128, 127) else relax.op.clip(self.bb.emit(y), lo, hi)

    def _reduce_axes(self, op, ins):
        from tflite.ReducerOptions import ReducerOptions

        if self.has_expr(ins[1].tensor_idx):
            return None, None
        rank = len(ins[0].tensor.ShapeAsNumpy())
        axes = sorted({int(a) % rank for a in np.atleast_1d(self.get_tensor_value(ins[1]))})
        keep = bool(self._options(op, ReducerOptions).KeepDims())
        return axes, keep

    def _int_reduce_max(self, op, ins, outs, maximum: bool = True):
        axes, keep = self._reduce_axes(op, ins)
        if axes is None:
            return NotImplemented
        return self.bb.call_te(lambda x_: reduce_max_min_te(x_, axes, keep, maximum), self._expr(ins[0]),
                               primfunc_name_hint="reduce_max_int8" if maximum else "reduce_min_int8")

    def _int_reduce_min(self, op, ins, outs):
        return self._int_reduce_max(op, ins, outs, maximum=False)

    def _int_resize_nearest(self, op, ins, outs):
        return resize_call(self, op, ins, outs, bilinear=False)

    def _int_resize_bilinear(self, op, ins, outs):
        return resize_call(self, op, ins, outs, bilinear=True)

    def _int_mean(self, op, ins, outs):
        axes, keep = self._reduce_axes(op, ins)
        if axes is None:
            return NotImplemented
        in_shape = [int(d) for d in ins[0].tensor.ShapeAsNumpy()]
        si, zi, so, zo = self._io_quant(ins, outs)
        mult, shift = mean_params(si, so, int(np.prod([in_shape[a] for a in axes])))
        return self.bb.call_te(lambda x_: mean_te(x_, axes, keep, mult, shift, zi, zo), self._expr(ins[0]),
                               primfunc_name_hint="mean_int8")

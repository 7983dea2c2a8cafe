"""Integer-only lowering of fully int8-quantized TFLite operators.

TVM's TFLite importer turns int8 models into fake-quant float (dequantize -> float op ->
quantize): 4x the weights, float activations, and results that drift from TFLite's integer
kernels. These converters replace it, each reproducing LiteRT's reference kernel bit for bit
(tests/test_int8_ops.py checks every one against it):

- arithmetic: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, TRANSPOSE_CONV, BATCH_MATMUL (int8 x
  int8 -> int32, int8 weights kept as they are), ADD, SUB, MUL, SQUARED_DIFFERENCE, MEAN,
  AVERAGE_POOL_2D (lower.py), SOFTMAX, RELU*, LEAKY_RELU, PRELU, ABS and int8 -> int8 QUANTIZE,
  with TFLite's fixed-point requantization done by the C helpers of c_helpers.py
  (`MultiplyByQuantizedMultiplier`, gemmlowp rounding, 32-bit arithmetic only);
- functions of one byte (LOGISTIC, TANH, GELU, EXP, LOG, RSQRT, HARD_SWISH): a 256-entry table
  computed here, at compile time, exactly as TFLite computes it;
- comparisons and data movement (NEG, MAX_POOL_2D, MAXIMUM, MINIMUM, REDUCE_MAX/MIN, ARG_MAX/MIN,
  CONCATENATION, RESIZE_NEAREST_NEIGHBOR and the layout-only ops of LAYOUT_ONLY_INT8_OPS) on the
  stored bytes;
- a float interface: QUANTIZE float32 -> int8 rounded as TFLite rounds (DEQUANTIZE is TVM's).

Anything else quantized keeps TVM's fake-quant path (float in the generated code).

The package: params.py (TFLite's Prepare arithmetic, stored encodings), te_kernels.py (integer
TE kernels), tables.py (one-byte function tables), converters.py (the IntegerConverters mixin), ops.py (which int8 operators bypass TVM's importer).
"""

from .converters import IntegerConverters
from .ops import INTEGER_ONLY_INT8_OPS, LAYOUT_ONLY_INT8_OPS
from .params import output_requant_params, quantize_multiplier, requant_tables, requantize_value

__all__ = ["INTEGER_ONLY_INT8_OPS", "LAYOUT_ONLY_INT8_OPS", "IntegerConverters", "output_requant_params",
           "quantize_multiplier", "requant_tables", "requantize_value"]

"""Which int8 TFLite operators TVM's importer refuses and aotgen lowers anyway, and how."""

# int8 operators TVM's importer refuses that only move or compare bytes (TFLite requires, or
# copies as if, equal input and output quantization; ARG_MAX/MIN compare the stored values):
# their converters are correct on int8 tensors as they are.
LAYOUT_ONLY_INT8_OPS = frozenset({"PAD", "PADV2", "STRIDED_SLICE", "SLICE", "TRANSPOSE", "SQUEEZE", "SPLIT", "SPLIT_V",
                                  "PACK", "UNPACK", "TILE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "GATHER",
                                  "MIRROR_PAD", "REVERSE_V2", "BROADCAST_TO", "EXPAND_DIMS", "SPACE_TO_BATCH_ND",
                                  "BATCH_TO_SPACE_ND", "ARG_MAX", "ARG_MIN"})
# int8 operators TVM's importer refuses that IntegerConverters computes itself.
INTEGER_ONLY_INT8_OPS = frozenset({"GELU", "RESIZE_NEAREST_NEIGHBOR", "PRELU", "BATCH_MATMUL",
                                   "UNIDIRECTIONAL_SEQUENCE_LSTM"})

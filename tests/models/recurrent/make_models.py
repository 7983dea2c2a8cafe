"""Regenerate the Keras LSTM test models of this folder (not run by the tests: TensorFlow is large).

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.15.1 "numpy<2"
    /tmp/tf/bin/python tests/models/recurrent/make_models.py

(TensorFlow 2.21 segfaults calibrating an LSTM for int8; 2.15 converts it.)
Small seeded models, converted by TensorFlow's TFLite converter exactly as a user would: float32,
and fully int8-quantized with a representative dataset (integer-only LSTM, 16-bit cell state).
Each model: batch 1, 6 time steps, 5 features, 7 units (odd sizes on purpose)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
STEPS, FEATURES, UNITS = 6, 5, 7


def keras_model(return_sequences: bool, seed: int) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    inp = tf.keras.Input(shape=(STEPS, FEATURES), batch_size=1)
    out = tf.keras.layers.LSTM(UNITS, return_sequences=return_sequences)(inp)
    model = tf.keras.Model(inp, out)
    # Weights as large as trained ones get, so that the gates leave their linear range.
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, 0.6, w.shape).astype(np.float32))
    return model


def convert(model: tf.keras.Model, int8: bool) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def data():
            for _ in range(64):
                yield [rng.uniform(-2, 2, (1, STEPS, FEATURES)).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = data
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> int:
    for seq, tag, seed in ((True, "seq", 1), (False, "last", 2)):
        model = keras_model(seq, seed)
        for int8 in (False, True):
            name = f"lstm_{tag}_{'int8' if int8 else 'float'}.tflite"
            (HERE / name).write_bytes(convert(model, int8))
            print("wrote", name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

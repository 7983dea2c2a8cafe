"""Regenerate the Keras LSTM test models of this folder (not run by the tests: TensorFlow is large).

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.15.1 "numpy<2"
    /tmp/tf/bin/python tests/recurrent/make_models.py

(TensorFlow 2.21 segfaults calibrating an LSTM for int8; 2.15 converts it.)
Small seeded Keras models, converted by TensorFlow's TFLite converter exactly as a user would:
float32, and fully int8-quantized with a representative dataset (TFLite's integer-only LSTM,
16-bit cell state). Odd sizes on purpose; weights as large as trained ones get, so that the
gates leave their linear range."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent

# name: (return_sequences, time_major, batch, steps, features, units, seed, weight std, input range)
SPECS = {
    "lstm_seq": (True, False, 1, 6, 5, 7, 1, 0.6, (-2.0, 2.0)),
    "lstm_last": (False, False, 1, 6, 5, 7, 2, 0.6, (-2.0, 2.0)),
    "lstm_time_major": (True, True, 2, 4, 3, 5, 3, 0.8, (0.0, 3.0)),  # asymmetric input zero point
    "lstm_unit": (True, False, 1, 3, 1, 1, 4, 1.0, (-1.0, 1.0)),
    "lstm_wide": (False, False, 1, 9, 11, 16, 5, 1.2, (-4.0, 4.0)),
}


def keras_model(return_sequences, time_major, batch, steps, features, units, seed, std) -> tf.keras.Model:
    tf.keras.utils.set_random_seed(seed)
    if time_major:
        inp = tf.keras.Input(shape=(batch, features), batch_size=steps)
    else:
        inp = tf.keras.Input(shape=(steps, features), batch_size=batch)
    out = tf.keras.layers.LSTM(units, return_sequences=return_sequences, time_major=time_major)(inp)
    model = tf.keras.Model(inp, out)
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.assign(rng.normal(0.0, std, w.shape).astype(np.float32))
    return model


def stacked() -> tf.keras.Model:
    """Two LSTMs and a classifier head: the shape of a keyword or gesture model."""
    tf.keras.utils.set_random_seed(7)
    inp = tf.keras.Input(shape=(8, 4), batch_size=1)
    x = tf.keras.layers.LSTM(8, return_sequences=True)(inp)
    x = tf.keras.layers.LSTM(6)(x)
    return tf.keras.Model(inp, tf.keras.layers.Dense(3, activation="softmax")(x))


def bidirectional() -> tf.keras.Model:
    """Keras Bidirectional: the converter makes two UNIDIRECTIONAL_SEQUENCE_LSTMs, REVERSE_V2 and
    CONCATENATION of it."""
    tf.keras.utils.set_random_seed(8)
    inp = tf.keras.Input(shape=(5, 3), batch_size=1)
    return tf.keras.Model(inp, tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(4, return_sequences=True))(inp))


def convert(model: tf.keras.Model, int8: bool, shape, value_range) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def data():
            for _ in range(64):
                yield [rng.uniform(*value_range, shape).astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = data
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def main() -> int:
    for name, (seq, tm, batch, steps, features, units, seed, std, value_range) in SPECS.items():
        model = keras_model(seq, tm, batch, steps, features, units, seed, std)
        shape = (steps, batch, features) if tm else (batch, steps, features)
        for int8 in (False, True):
            path = HERE / f"{name}_{'int8' if int8 else 'float'}.tflite"
            path.write_bytes(convert(model, int8, shape, value_range))
            print("wrote", path.name)
    for name, model, shape in (("lstm_stacked", stacked(), (1, 8, 4)), ("lstm_bidirectional", bidirectional(), (1, 5, 3))):
        for int8 in (False, True):
            path = HERE / f"{name}_{'int8' if int8 else 'float'}.tflite"
            path.write_bytes(convert(model, int8, shape, (-2.0, 2.0)))
            print("wrote", path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

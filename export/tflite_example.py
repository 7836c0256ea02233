"""Transcribe line images on a device with the TFLite model (LiteRT), no Keras model needed.

    python export/tflite_example.py saved_models/htr_line_int8.tflite line1.png line2.jpg

The `.tflite` holds the network and greedy CTC decoding, for one line at a time (batch 1) and
any width. The host decodes the image and applies the same preprocessing as training
(`keras_htr.data.preprocess`); the alphabet comes from the `.tflite.json` file beside it.
"""

import sys

from keras_htr.export.tflite import TFLiteTranscriber


def main(model_path, *images):
    transcriber = TFLiteTranscriber(model_path)
    for result in transcriber.transcribe(images):
        if result.ok:
            print(f"{result.source}\t{result.text}\t{result.score:.3f}")
        else:
            print(f"error: {result.error}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])

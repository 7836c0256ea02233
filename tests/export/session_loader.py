"""Run an exported SavedModel the way TensorFlow Serving loads it: TF1 session loader.

Usage: python session_loader.py VERSION_DIR FILE... -> JSON on stdout with, per signature,
the outputs for the files' bytes as one batch. Runs in its own process so that nothing from
the exporting process (variables, traced functions) can help the load.
"""

import json
import sys

import numpy as np
import tensorflow as tf


def main(version_dir, files):
    batch = [open(f, "rb").read() for f in files]
    tf.compat.v1.disable_eager_execution()
    results = {}
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)
        for name, signature in meta_graph.signature_def.items():
            if name.startswith("__"):
                continue
            fetches = {k: v.name for k, v in signature.outputs.items()}
            feed = {signature.inputs["image_bytes"].name: np.array(batch, dtype=object)}
            outputs = session.run(fetches, feed)
            results[name] = {
                k: [x.decode("utf-8") for x in v] if v.dtype == object else v.tolist()
                for k, v in outputs.items()
            }
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

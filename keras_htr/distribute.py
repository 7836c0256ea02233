"""Multi-device training with `tf.distribute`: which strategy, and losses that add up right.

Under a `tf.distribute` strategy each replica computes the loss on its part of the global batch
and the optimizer sums the replicas' gradients. Keras therefore expects `compute_loss` to return
a loss already scaled per replica (its own losses divide by the number of replicas); a plain mean
over the replica's lines would give N-times the gradients on N replicas. `replica_mean` returns
each replica's share of the mean over the whole global batch, so the summed gradients (and the
loss Keras reports) are those of one device on the same batch.

Example:

>>> strategy = make_strategy("mirrored")                          # doctest: +SKIP
>>> with strategy.scope():                                        # doctest: +SKIP
...     model = build_model("crnn", charset)
...     model.compile(optimizer="adam")
>>> model.fit(dataset)                                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os

#: What `make_strategy` (and `TrainConfig.strategy`, `keras-htr train --strategy`) accepts.
STRATEGIES = ("mirrored", "multiworker")


def make_strategy(name: str, devices=None):
    """A `tf.distribute` strategy by name.

    Args:
        name: `"mirrored"`: one machine, all its GPUs; on a machine without a GPU, all its
            logical CPU devices (one, unless configured with
            `tf.config.set_logical_device_configuration`). `"multiworker"`: several machines,
            each with its devices, described by the `TF_CONFIG` environment variable (cluster
            and this task); every worker runs the same training command.
        devices: with `"mirrored"`, the devices to use (e.g. `["/gpu:0", "/gpu:1"]`) instead.

    Raises:
        ValueError: an unknown name, or `"multiworker"` without a valid `TF_CONFIG`.
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(
            f"Received an invalid value for argument `strategy`, expected one of {STRATEGIES}, "
            f"got {name!r}"
        )
    if name == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    tf_config = os.environ.get("TF_CONFIG", "")
    try:
        parsed = json.loads(tf_config) if tf_config else None
    except ValueError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON ({e}): {tf_config[:200]!r}") from None
    if not parsed or "cluster" not in parsed or "task" not in parsed:
        raise ValueError(
            "the multiworker strategy needs TF_CONFIG with the cluster and this worker's task, "
            'e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy=None) -> bool:
    """True on the worker that writes checkpoints: the chief, or worker 0 of a cluster without
    one; always True without a multi-worker strategy."""
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def replica_mean(total, count):
    """This replica's share of a mean over the global batch: `total / sum of count over replicas`.

    Args:
        total: float scalar, the sum of the per-sample losses on this replica.
        count: float scalar, how many samples count on this replica (not differentiated).

    Returns:
        A float scalar. Summed over the replicas (as the optimizer sums their gradients) it is
        the mean over the whole global batch, whatever the number of replicas; without a
        strategy it is `total / count`. A count of 0 everywhere gives 0.
    """
    import tensorflow as tf

    count = tf.stop_gradient(tf.cast(count, total.dtype))
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return total / tf.maximum(count, tf.ones_like(count))


def replica_scale(value):
    """`value / number of replicas`: how a per-replica term that is already a mean (a weight
    penalty) enters a loss so that the replicas' sum counts it once."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    return value / replicas if replicas > 1 else value


__all__ = ["STRATEGIES", "is_chief", "make_strategy", "replica_mean", "replica_scale"]

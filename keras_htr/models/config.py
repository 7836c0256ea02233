"""The typed, validated configuration of a line model, saved inside the model."""

from __future__ import annotations

import dataclasses
from typing import Any

ARCHITECTURES = ("crnn", "mdlstm")
MDLSTM_CELLS = ("bounded", "graves")


def _invalid(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(
        f"Received an invalid value for argument `{name}`, expected {expected}, got {value!r}"
    )


def _positive_ints(name: str, values, length: int | None = None) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise _invalid(name, "a sequence of positive integers", values) from None
    if not values or any(v < 1 for v in values) or (length and len(values) != length):
        what = f"{length} positive integers" if length else "a non-empty sequence of positive integers"
        raise _invalid(name, what, values)
    return values


def _pairs(name: str, values) -> tuple[tuple[int, int], ...]:
    try:
        pairs = tuple(tuple(int(v) for v in pair) for pair in values)
    except (TypeError, ValueError):
        raise _invalid(name, "a sequence of (height, width) pairs", values) from None
    if any(len(p) != 2 or min(p) < 1 for p in pairs):
        raise _invalid(name, "a sequence of (height, width) pairs of positive integers", values)
    return pairs


def _rate(name: str, value) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise _invalid(name, "a rate in [0, 1)", value)
    return value


@dataclasses.dataclass(frozen=True)
class CRNNConfig:
    """Puigcerver (2017): conv blocks (conv 3x3, BN, LeakyReLU, max-pool) then a BLSTM stack.

    Args:
        conv_filters: features of each conv block.
        pool_sizes: (height, width) max-pool of each block; the product of the widths is the
            horizontal stride (default 4: about 3 frames per character at height 32, enough
            for CTC's 2U+1).
        lstm_units: units of each direction of each BLSTM layer.
        lstm_layers: number of BLSTM layers.
        dropout: dropout before each BLSTM and before the output layer.
        conv_dropout: dropout before each conv block after the second.
    """

    conv_filters: tuple[int, ...] = (16, 32, 48, 64, 80)
    pool_sizes: tuple[tuple[int, int], ...] = ((2, 2), (2, 2), (2, 1), (2, 1), (1, 1))
    lstm_units: int = 128
    lstm_layers: int = 2
    dropout: float = 0.25
    conv_dropout: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "conv_filters", _positive_ints("conv_filters", self.conv_filters))
        object.__setattr__(self, "pool_sizes", _pairs("pool_sizes", self.pool_sizes))
        if len(self.pool_sizes) != len(self.conv_filters):
            raise _invalid(
                "pool_sizes", f"one pool per conv block ({len(self.conv_filters)})", self.pool_sizes
            )
        for name in ("lstm_units", "lstm_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise _invalid(name, "a positive integer", value)
        object.__setattr__(self, "dropout", _rate("dropout", self.dropout))
        object.__setattr__(self, "conv_dropout", _rate("conv_dropout", self.conv_dropout))

    @property
    def strides(self) -> tuple[int, int]:
        """Total (vertical, horizontal) downsampling of the conv stack."""
        h = w = 1
        for ph, pw in self.pool_sizes:
            h, w = h * ph, w * pw
        return h, w


@dataclasses.dataclass(frozen=True)
class MDLSTMConfig:
    """Pham et al. (2014): 2x2 blocks -> MDLSTM -> conv -> MDLSTM -> conv -> MDLSTM -> dense.

    Args:
        block: (height, width) of the input blocks folded into features (space-to-depth).
        lstm_units: units of the three MDLSTM layers (paper: 2, 10, 50).
        conv_filters: features of the two subsampling convolutions (paper: 6, 20).
        conv_strides: (height, width) kernel = stride of each subsampling convolution (the
            paper's 2x4 filters would leave too few frames for CTC at height 32).
        dropout: dropout after each MDLSTM layer but the first (the paper's only dropout;
            dropping one of the first layer's few features starves everything above it).
        cell: the MDLSTM2D cell, `"bounded"` (default: its state stays bounded) or `"graves"`.
        normalize: layer-normalise each MDLSTM's output over its features (default True).
            An MDLSTM's output is several times smaller than its input at initialisation
            (h = o * tanh(c), with o and the input gate near 0.5); over three layers the signal
            reaching the logits was 100-1000x smaller than the image's, and the network stayed
            in CTC's blank phase. The normalisation restores a unit scale after each layer.
    """

    block: tuple[int, int] = (2, 2)
    lstm_units: tuple[int, ...] = (2, 10, 50)
    conv_filters: tuple[int, ...] = (6, 20)
    conv_strides: tuple[tuple[int, int], ...] = ((2, 2), (2, 1))
    dropout: float = 0.25
    cell: str = "bounded"
    normalize: bool = True

    def __post_init__(self):
        object.__setattr__(self, "block", _positive_ints("block", self.block, length=2))
        object.__setattr__(self, "lstm_units", _positive_ints("lstm_units", self.lstm_units))
        object.__setattr__(self, "conv_filters", _positive_ints("conv_filters", self.conv_filters))
        object.__setattr__(self, "conv_strides", _pairs("conv_strides", self.conv_strides))
        if len(self.lstm_units) != len(self.conv_filters) + 1:
            raise _invalid(
                "lstm_units", f"one more MDLSTM layer than convs ({len(self.conv_filters) + 1})",
                self.lstm_units,
            )
        if len(self.conv_strides) != len(self.conv_filters):
            raise _invalid(
                "conv_strides", f"one stride per conv ({len(self.conv_filters)})", self.conv_strides
            )
        object.__setattr__(self, "dropout", _rate("dropout", self.dropout))
        if self.cell not in MDLSTM_CELLS:
            raise _invalid("cell", f"one of {MDLSTM_CELLS}", self.cell)

    @property
    def strides(self) -> tuple[int, int]:
        """Total (vertical, horizontal) downsampling: block times conv strides."""
        h, w = self.block
        for sh, sw in self.conv_strides:
            h, w = h * sh, w * sw
        return h, w

    @classmethod
    def preset(cls, name: str, **overrides) -> "MDLSTMConfig":
        """A named size: `"paper"` (Pham et al.'s 2/10/50 units, convs 6/20, about 150k
        parameters with 80 classes) or `"large"` (8/32/96 units, convs 16/48, widths in the
        proportions of RETURNN's IAM setup, conv 15/45/75 with MDLSTM 30/60/90).

        >>> MDLSTMConfig.preset("large").lstm_units
        (8, 32, 96)
        """
        if name not in MDLSTM_PRESETS:
            raise _invalid("name", f"one of {tuple(MDLSTM_PRESETS)}", name)
        return cls(**{**MDLSTM_PRESETS[name], **overrides})


MDLSTM_PRESETS = {
    "paper": {"lstm_units": (2, 10, 50), "conv_filters": (6, 20)},
    "large": {"lstm_units": (8, 32, 96), "conv_filters": (16, 48)},
}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Which line architecture to build, and its sizes.

    Args:
        arch: "crnn" or "mdlstm".
        crnn: sizes of the CRNN (used when `arch="crnn"`).
        mdlstm: sizes of the MDLSTM network (used when `arch="mdlstm"`), or the name of
            an `MDLSTMConfig.preset` (`"paper"`, `"large"`).

    Example:

    >>> ModelConfig(arch="crnn", crnn=CRNNConfig(lstm_units=64)).crnn.lstm_units
    64
    >>> ModelConfig.from_config(ModelConfig().get_config()) == ModelConfig()
    True
    """

    arch: str = "crnn"
    crnn: CRNNConfig = dataclasses.field(default_factory=CRNNConfig)
    mdlstm: MDLSTMConfig = dataclasses.field(default_factory=MDLSTMConfig)

    def __post_init__(self):
        if self.arch not in ARCHITECTURES:
            raise _invalid("arch", f"one of {ARCHITECTURES}", self.arch)
        if isinstance(self.crnn, dict):
            object.__setattr__(self, "crnn", _from_dict(CRNNConfig, self.crnn, "crnn"))
        if isinstance(self.mdlstm, str):
            object.__setattr__(self, "mdlstm", MDLSTMConfig.preset(self.mdlstm))
        if isinstance(self.mdlstm, dict):
            object.__setattr__(self, "mdlstm", _from_dict(MDLSTMConfig, self.mdlstm, "mdlstm"))
        if not isinstance(self.crnn, CRNNConfig):
            raise _invalid("crnn", "a CRNNConfig or dict", self.crnn)
        if not isinstance(self.mdlstm, MDLSTMConfig):
            raise _invalid("mdlstm", "an MDLSTMConfig or dict", self.mdlstm)

    @property
    def strides(self) -> tuple[int, int]:
        """(vertical, horizontal) downsampling of the chosen architecture."""
        return getattr(self, self.arch).strides

    def get_config(self) -> dict:
        """JSON-friendly nested dict (tuples become lists)."""
        return _jsonable(dataclasses.asdict(self))

    @classmethod
    def from_config(cls, config: dict) -> "ModelConfig":
        """Inverse of `get_config`; unknown keys are an error, not silently ignored."""
        return _from_dict(cls, config, "config")


def _from_dict(cls, config: dict, name: str):
    if not isinstance(config, dict):
        raise _invalid(name, "a dict", config)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise _invalid(name, f"only the keys {sorted(known)}", unknown)
    return cls(**config)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value

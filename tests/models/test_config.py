import pytest

from keras_htr.models.config import CRNNConfig, MDLSTMConfig, ModelConfig


def test_round_trip_and_strides():
    config = ModelConfig(arch="mdlstm", mdlstm=MDLSTMConfig(lstm_units=(4, 8, 16)))
    again = ModelConfig.from_config(config.get_config())
    assert again == config
    assert ModelConfig().strides == (16, 4)
    assert config.strides == (8, 4)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ModelConfig(arch="transformer"), "arch"),
        (lambda: CRNNConfig(conv_filters=(8, 0)), "conv_filters"),
        (lambda: CRNNConfig(conv_filters=(8, 8), pool_sizes=((2, 2),)), "pool_sizes"),
        (lambda: CRNNConfig(dropout=1.5), "dropout"),
        (lambda: CRNNConfig(lstm_units=0), "lstm_units"),
        (lambda: MDLSTMConfig(lstm_units=(2, 10)), "lstm_units"),
        (lambda: MDLSTMConfig(block=(2,)), "block"),
        (lambda: MDLSTMConfig(cell="peephole"), "cell"),
        (lambda: MDLSTMConfig.preset("huge"), "name"),
        (lambda: ModelConfig(arch="mdlstm", mdlstm="huge"), "name"),
        (lambda: ModelConfig.from_config({"arch": "crnn", "crnn": {"lstm_unit": 3}}), "crnn"),
        (lambda: ModelConfig.from_config({"archh": "crnn"}), "config"),
    ],
)
def test_invalid_values_rejected(make, match):
    with pytest.raises(ValueError, match=f"invalid value for argument `{match}`"):
        make()


def test_mdlstm_presets_and_defaults():
    assert MDLSTMConfig() == MDLSTMConfig.preset("paper")
    assert MDLSTMConfig().cell == "bounded" and MDLSTMConfig().normalize
    large = MDLSTMConfig.preset("large", dropout=0.1)
    assert large.lstm_units == (8, 32, 96) and large.conv_filters == (16, 48) and large.dropout == 0.1
    # A preset name in a config file (--model-config) stands for its sizes.
    config = ModelConfig.from_config({"arch": "mdlstm", "mdlstm": "large"})
    assert config.mdlstm == MDLSTMConfig.preset("large")
    assert ModelConfig.from_config(config.get_config()) == config

import pytest

from keras_htr.charset import BLANK_ID, Charset


def test_round_trip_and_blank_reserved():
    cs = Charset.from_texts(["hello world", "Café"])
    ids = cs.encode("hello Café")
    assert BLANK_ID not in ids
    assert cs.decode(ids) == "hello Café"
    assert cs.num_classes == len(cs.chars) + 1


def test_nfc_normalisation():
    cs = Charset("é")
    assert cs.encode("e\u0301") == [1]


def test_unknown_characters():
    cs = Charset("ab")
    with pytest.raises(ValueError, match="'c'"):
        cs.encode("abc")
    assert cs.encode("abc", errors="ignore") == [1, 2]
    assert cs.unknown("abcd") == {"c", "d"}


def test_decode_skips_blank_and_padding():
    cs = Charset("ab")
    assert cs.decode([0, 1, -1, 2, 0, 7]) == "ab"


def test_config_round_trip():
    cs = Charset("xyz ")
    assert Charset.from_config(cs.get_config()) == cs


def test_rejects_bad_chars():
    with pytest.raises(ValueError, match="single"):
        Charset(["ab"])
    with pytest.raises(ValueError, match="duplicates"):
        Charset("aa")

import pytest

from authcore import b64
from authcore.errors import StrictJSONError
from authcore.strictjson import loads_object


@pytest.mark.parametrize(
    "text",
    [
        '{"username":"alice","username":"admin"}',
        '{"a":{"b":1,"b":2}}',
        '{"n": NaN}',
        '{"n": Infinity}',
        '{"n": -Infinity}',
        "[1,2]",
        '"string"',
        "42",
        "null",
        "{",
        "",
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 20 + "1" + "}" * 20,
    ],
)
def test_strict_json_refuses(text):
    with pytest.raises(StrictJSONError):
        loads_object(text)


def test_strict_json_refuses_invalid_utf8():
    with pytest.raises(StrictJSONError):
        loads_object(b'{"a":"\xff"}')


def test_strict_json_accepts_objects_and_brackets_inside_strings():
    assert loads_object('{"a":"[[[[[[[[[[[[[[[[[[[[[[","b":[1,{"c":null}]}') == {
        "a": "[" * 22,
        "b": [1, {"c": None}],
    }


@pytest.mark.parametrize("text", ["YQ=", "YQ==", "Y", "YR", "Y+E", "Y/E", "YQ!"])
def test_base64url_refuses_padding_noncanonical_and_alphabet(text):
    with pytest.raises(ValueError, match="base64"):
        b64.decode(text)


def test_base64url_round_trip():
    for n in range(40):
        data = bytes(range(n))
        assert b64.decode(b64.encode(data)) == data

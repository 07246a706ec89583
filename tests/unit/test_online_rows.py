"""The SQLite reader's value decoding equals protobuf's parse of Feast's ValueProto bytes."""

from __future__ import annotations

import math
import random

from feast.protos.feast.types.Value_pb2 import Null, StringList, Value

from features.online.rows import _Decoded, _python_value


def _hex(value: Value) -> str:
    return value.SerializeToString().hex().upper()  # as SQLite's hex() gives it


def test_doubles_read_from_their_bytes_equal_protobufs_parse() -> None:
    rng = random.Random(7)
    doubles = [0.0, -0.0, 5e-324, -1.5, 8527.25, 1e-05, math.inf, -math.inf, 1.7976931348623157e308,
               *(rng.uniform(-1e12, 1e12) for _ in range(2000)), *(rng.random() for _ in range(2000))]
    decoded = _Decoded()
    for x in doubles:
        got = decoded[_hex(Value(double_val=x))]
        assert type(got) is float and got == x and math.copysign(1, got) == math.copysign(1, x), x
    assert math.isnan(decoded[_hex(Value(double_val=math.nan))])


def test_other_values_are_parsed_by_protobuf_and_lists_are_not_shared() -> None:
    decoded = _Decoded()
    for value in (Value(int64_val=5), Value(int32_val=-3), Value(string_val="近30天"), Value(bool_val=True),
                  Value(float_val=0.5), Value(null_val=Null.NULL), Value()):
        got = decoded[_hex(value)]
        assert got == _python_value(value) and type(got) is type(_python_value(value)), value
    listed = _hex(Value(string_list_val=StringList(val=["a", "b"])))
    first, second = decoded[listed], decoded[listed]
    assert first == second == ["a", "b"] and first is not second

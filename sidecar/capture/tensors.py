"""Tensors as rows: shape checks, row-major reshaping of JSON data, and the V2 binary tensor layout.

The first dimension is the batch: a tensor of shape `[N, ...]` yields N per-row values. A row of shape `[]` or
`[1]` is its scalar, `[k]` a list, higher ranks a nested list. A row with more than `MAX_ROW_VALUES` values
(an image, say) is kept as a marker such as `"<FP32 tensor [224, 224, 3]>"` instead of its numbers.

Binary tensors (KServe/Triton binary extension): little-endian, row-major, no padding; BOOL is one byte per
element, BYTES elements are each preceded by a 4-byte little-endian length. Sizes are checked against the
shape before anything is decoded, so a lying header cannot make us allocate more than the body's size.
"""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np

from sidecar.capture.base import CaptureError
from sidecar.capture.decode import TEXT_LIMIT, bytes_marker

MAX_DIMS: Final = 32
MAX_ROW_VALUES: Final = 4096
"""Rows with more values than this are stored as a shape marker."""

_NUMPY: Final[dict[str, np.dtype[Any]]] = {
    "BOOL": np.dtype("u1"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BF16": np.dtype("<u2"),
}


def check_shape(shape: Any, name: str) -> list[int]:
    """The shape as a list of non-negative ints; CaptureError otherwise."""
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(type(dim) is int and dim >= 0 for dim in shape)
    ):
        raise CaptureError(f"tensor {name!r}: invalid shape {str(shape)[:60]}")
    return shape


def flatten(data: Any, name: str) -> list[Any]:
    """Row-major flat values from nested or already-flat `data`."""
    if not isinstance(data, list):
        return [data]
    if not data or not isinstance(data[0], list):
        return data
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) >= MAX_DIMS:
                    raise CaptureError(f"tensor {name!r}: data nested deeper than {MAX_DIMS}")
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def rows_of(flat: list[Any], shape: list[int], name: str, datatype: str = "") -> list[Any]:
    """Per-row values of a row-major tensor (first dimension = batch)."""
    if not shape:
        if len(flat) != 1:
            raise CaptureError(f"tensor {name!r}: {len(flat)} values for shape []")
        return flat
    batch, per_row = shape[0], math.prod(shape[1:])
    if len(flat) != batch * per_row:
        raise CaptureError(f"tensor {name!r}: {len(flat)} values for shape {shape}")
    if per_row == 0 and batch:
        raise CaptureError(f"tensor {name!r}: shape {shape} has no values per row")
    if per_row == 1:
        return flat
    if per_row > MAX_ROW_VALUES:
        return [tensor_marker(datatype, shape[1:])] * batch
    rows = [flat[i * per_row : (i + 1) * per_row] for i in range(batch)]
    if len(shape) > 2:
        rows = [_nest(row, shape[1:]) for row in rows]
    return rows


def tensor_marker(datatype: str, dims: list[int]) -> str:
    """The marker stored instead of a row too large to keep."""
    return f"<{datatype or 'tensor'} tensor {dims}>"


def _nest(flat: list[Any], dims: list[int]) -> list[Any]:
    if len(dims) == 1:
        return flat
    step = math.prod(dims[1:])
    return [_nest(flat[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]


def binary_rows(raw: bytes, datatype: str, shape: list[int], name: str) -> list[Any]:
    """Per-row values of a binary tensor; CaptureError when its size does not fit its shape and datatype."""
    count = math.prod(shape)
    if datatype == "BYTES":
        return rows_of(_bytes_elements(raw, count, name), shape, name, datatype)
    dtype = _NUMPY.get(datatype)
    if dtype is None:
        raise CaptureError(f"tensor {name!r}: unsupported datatype {datatype[:20]!r}")
    if len(raw) != count * dtype.itemsize:
        raise CaptureError(
            f"binary tensor {name!r}: binary_data_size {len(raw)} does not fit shape {shape} of {datatype}"
        )
    if shape and shape[0] and count // shape[0] > MAX_ROW_VALUES:
        return [tensor_marker(datatype, shape[1:])] * shape[0]
    array = np.frombuffer(raw, dtype=dtype)
    if datatype == "BOOL":
        array = array != 0
    elif datatype == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return rows_of(array.tolist(), shape, name, datatype)


def _bytes_elements(raw: bytes, count: int, name: str) -> list[Any]:
    """BYTES elements: each a 4-byte little-endian length, then that many bytes (text kept if short UTF-8)."""
    if count * 4 > len(raw):
        raise CaptureError(f"binary tensor {name!r}: {len(raw)} bytes cannot hold {count} BYTES elements")
    view = memoryview(raw)
    out: list[Any] = []
    pos, end = 0, len(raw)
    for _ in range(count):
        if pos + 4 > end:
            raise CaptureError(f"binary tensor {name!r}: BYTES element lengths run past its data")
        size = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + size > end:
            raise CaptureError(f"binary tensor {name!r}: BYTES element lengths run past its data")
        out.append(_text(view[pos : pos + size]))
        pos += size
    if pos != end:
        raise CaptureError(f"binary tensor {name!r}: {end - pos} bytes left after {count} BYTES elements")
    return out


def _text(chunk: memoryview) -> str:
    if len(chunk) > TEXT_LIMIT:
        return bytes_marker(len(chunk))
    try:
        return str(chunk, "utf-8")
    except UnicodeDecodeError:
        return bytes_marker(len(chunk))

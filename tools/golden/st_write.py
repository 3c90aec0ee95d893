"""Minimal safetensors writer (the format, by hand: python `safetensors` may be absent).

File layout: u64 little-endian header length N, then N bytes of JSON
  {name: {"dtype": "F64"|"F32"|"F16"|"BF16"|"I32"|"I64", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {...}}
padded with spaces to a multiple of 8, then the raw little-endian tensor bytes (offsets relative to
the end of the header).
"""

import json
import struct

import torch

_DTYPES = {
    torch.float64: ("F64", torch.int64),
    torch.float32: ("F32", torch.int32),
    torch.float16: ("F16", torch.int16),
    torch.bfloat16: ("BF16", torch.int16),
    torch.int32: ("I32", torch.int32),
    torch.int64: ("I64", torch.int64),
}


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Raw little-endian bytes of a contiguous tensor (bf16/f16 through an int16 view: numpy has no bf16)."""
    _, view_dtype = _DTYPES[t.dtype]
    return t.contiguous().view(view_dtype).numpy().tobytes()


def save_file(tensors: dict, path: str, metadata: dict | None = None) -> int:
    """Writes tensors (name -> torch tensor, stored in its own dtype). Returns the data size in bytes."""
    header = {}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        dtype_name, _ = _DTYPES[t.dtype]
        raw = tensor_bytes(t)
        header[name] = {"dtype": dtype_name, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)
    return offset


def load_file(path: str) -> dict:
    """Reads back a safetensors file (F64/F32/F16/BF16/I32/I64) into torch tensors (round-trip check)."""
    names = {v[0]: k for k, v in _DTYPES.items()}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = names[info["dtype"]]
        begin, end = info["data_offsets"]
        view_dtype = _DTYPES[dtype][1]
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=view_dtype) if end > begin else torch.empty(0, dtype=view_dtype)
        out[name] = t.view(dtype).reshape(info["shape"]).clone()
    return out

#!/usr/bin/env python3
"""Golden files for msae's safetensors reader, and a check of msae's writer, from an independent side.

Debian bookworm has no python3-safetensors package, so this script is its own small, separate
implementation of the format (struct + json, laid out as the reference Rust writer does: tensors
ordered by descending dtype then name, JSON padded with spaces to a multiple of 8) and uses
torch (Debian's python3-torch) for every value conversion (float16 / bfloat16 rounding).

    /usr/bin/python3 tools/golden/make_safetensors_golden.py generate
        writes test/golden/safetensors/python_dtypes.safetensors and python_dtypes.expected.json
    /usr/bin/python3 tools/golden/make_safetensors_golden.py verify
        runs tools/golden/write-sample.ts (msae's writer), parses the file here and checks the
        layout and every value against torch (not part of npm test: needs python3 + torch).
"""
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN_DIR = os.path.join(ROOT, "test", "golden", "safetensors")

# Reference dtype order (increasing alignment), as in the Rust crate's Dtype enum.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
TORCH_DTYPE = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool,
}
SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def tensor_bytes(t):
    """Little-endian bytes of a contiguous tensor (16-bit floats through an int16 view)."""
    t = t.contiguous()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.view(torch.int16)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def serialize(tensors, metadata):
    """tensors: {name: (dtype, torch tensor)} -> bytes of a .safetensors file."""
    order = sorted(tensors, key=lambda n: (-DTYPE_ORDER.index(tensors[n][0]), n))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name in order:
        dt, t = tensors[name]
        b = tensor_bytes(t)
        assert len(b) == t.numel() * SIZE[dt]
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    return struct.pack("<Q", len(js)) + js + b"".join(blobs)


def parse(data):
    """Independent strict reader: returns (metadata, {name: (dtype, shape, bytes)})."""
    assert len(data) >= 8
    (n,) = struct.unpack("<Q", data[:8])
    assert 0 < n <= len(data) - 8 and n <= 100_000_000
    text = data[8 : 8 + n].decode("utf-8")

    def no_dupes(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    header = json.loads(text, object_pairs_hook=no_dupes)
    buf = data[8 + n :]
    metadata = header.pop("__metadata__", None)
    out = {}
    spans = []
    for name, info in header.items():
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        assert e - b == math.prod(shape) * SIZE[dt], name
        spans.append((b, e))
        out[name] = (dt, shape, buf[b:e])
    spans.sort()
    pos = 0
    for b, e in spans:  # the reference's rule: contiguous, covering the whole buffer
        assert b == pos, f"gap or overlap at {b} (expected {pos})"
        pos = e
    assert pos == len(buf), "buffer not fully covered"
    return metadata, out, text


def to_torch(dt, shape, raw):
    if dt in ("F16", "BF16"):
        t = torch.frombuffer(bytearray(raw), dtype=torch.int16).view(TORCH_DTYPE[dt]) if raw else torch.zeros(0, dtype=TORCH_DTYPE[dt])
    elif raw:
        t = torch.frombuffer(bytearray(raw), dtype=TORCH_DTYPE[dt])
    else:
        t = torch.zeros(0, dtype=TORCH_DTYPE[dt])
    return t.reshape(shape)


def f32_bits(t):
    return [int(v) & 0xFFFFFFFF for v in t.to(torch.float32).reshape(-1).view(torch.int32).tolist()]


def f32_from_bits(bits):
    return torch.tensor([b - (1 << 32) if b >= 1 << 31 else b for b in bits], dtype=torch.int32).view(torch.float32)


def golden_tensors():
    g = torch.Generator().manual_seed(20240611)
    f16_bits = [0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x3555, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00]
    bf16_bits = [0x0000, 0x8000, 0x0001, 0x007F, 0x0080, 0x3F80, 0xBF80, 0x4049, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80]
    return {
        "a.f32_mixed": ("F32", torch.tensor([[0.0, -0.0, 1.0], [-2.5, 3.4028234663852886e38, 1.401298464324817e-45]], dtype=torch.float32)),
        "a.f32_inf": ("F32", torch.tensor([math.inf, -math.inf], dtype=torch.float32)),
        "b.f16_special": ("F16", torch.tensor([b - 65536 if b >= 32768 else b for b in f16_bits], dtype=torch.int16).view(torch.float16).reshape(3, 4)),
        "b.bf16_special": ("BF16", torch.tensor([b - 65536 if b >= 32768 else b for b in bf16_bits], dtype=torch.int16).view(torch.bfloat16).reshape(2, 2, 3)),
        "c.f16_randn": ("F16", torch.randn(4, 6, generator=g).to(torch.float16)),
        "c.bf16_randn": ("BF16", (torch.randn(4, 6, generator=g) * 100).to(torch.bfloat16)),
        "d.f64": ("F64", torch.tensor([math.pi, -1e300, 5e-324, 1 / 3], dtype=torch.float64)),
        "e.i64": ("I64", torch.tensor([-(2**63), -1, 0, 2**53 + 1, 2**63 - 1], dtype=torch.int64)),
        "e.i32": ("I32", torch.tensor([-(2**31), -7, 16777217, 2**31 - 1], dtype=torch.int32)),
        "e.i16": ("I16", torch.tensor([-32768, 1, 32767], dtype=torch.int16)),
        "e.i8": ("I8", torch.tensor([-128, 0, 127], dtype=torch.int8)),
        "e.u8": ("U8", torch.arange(0, 256, 51, dtype=torch.uint8)),
        "e.bool": ("BOOL", torch.tensor([[True, False, True], [False, False, True]])),
        "f.scalar": ("F32", torch.tensor(-4.75, dtype=torch.float32)),
        "f.empty": ("F32", torch.zeros(0, dtype=torch.float32)),
        "f.empty2": ("BF16", torch.zeros(2, 0, 3, dtype=torch.bfloat16)),
        "f.cube": ("F32", torch.arange(105, dtype=torch.float32).reshape(3, 5, 7) / 8 - 6),
    }


def expected_entry(dt, t):
    flat = t.reshape(-1)
    if dt in ("F16", "BF16"):
        raw = [int(v) & 0xFFFF for v in flat.view(torch.int16).tolist()]
    elif dt == "F32":
        raw = f32_bits(flat)
    elif dt == "F64":
        raw = [float(v).hex() for v in flat.tolist()]
    elif dt == "BOOL":
        raw = [int(v) for v in flat.tolist()]
    else:
        raw = [str(int(v)) for v in flat.tolist()]
    return {"dtype": dt, "shape": list(t.shape), "raw": raw, "f32_bits": f32_bits(flat)}


def narrowing_table():
    """float32 bit patterns and torch's round-to-nearest-even float16 / bfloat16 results."""
    rnd = random.Random(1234)
    bits = set()
    for e in range(0, 255):  # every float32 exponent, random mantissas, both signs
        for _ in range(2):
            bits.add((rnd.getrandbits(1) << 31) | (e << 23) | rnd.getrandbits(23))
    for h in range(0, 0x7C00, 211):  # exact halfway points between neighbouring float16 values
        lo = f32_bits(torch.tensor([h], dtype=torch.int16).view(torch.float16))[0]
        hi = f32_bits(torch.tensor([h + 1], dtype=torch.int16).view(torch.float16))[0]
        lo_v = struct.unpack("<f", struct.pack("<I", lo))[0]
        hi_v = struct.unpack("<f", struct.pack("<I", hi))[0]
        mid = struct.unpack("<I", struct.pack("<f", (lo_v + hi_v) / 2))[0]
        bits.update([mid, mid - 1, mid + 1, mid | 0x80000000])
    for b in range(0x3F800000, 0x3F800000 + 0x20000, 0x1000):  # bfloat16 halfway region near 1.0
        bits.update([b, b + 0x8000, b + 0x7FFF, b + 0x8001])
    bits.update([0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001, 0x47800000, 0x7F7FFFFF, 0x7F7F8000, 0x7F7F7FFF,
                 0x33000000, 0x33000001, 0x337FFFFF, 0x38800000, 0x387FFFFF, 0x387FE000, 0x00000001, 0x7F800000, 0xFF800000])
    bits = sorted(b for b in bits if (b & 0x7FFFFFFF) <= 0x7F800000)  # no NaN (payload handling differs by design)
    x = f32_from_bits(bits)
    f16 = [int(v) & 0xFFFF for v in x.to(torch.float16).view(torch.int16).tolist()]
    bf16 = [int(v) & 0xFFFF for v in x.to(torch.bfloat16).view(torch.int16).tolist()]
    return {"f32_bits": bits, "f16_bits": f16, "bf16_bits": bf16}


def generate():
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    tensors = golden_tensors()
    metadata = {"format": "pt", "made_by": "tools/golden/make_safetensors_golden.py"}
    data = serialize(tensors, metadata)
    parse(data)  # self-check against the independent reader above
    with open(os.path.join(GOLDEN_DIR, "python_dtypes.safetensors"), "wb") as f:
        f.write(data)
    expected = {
        "metadata": metadata,
        "tensors": {name: expected_entry(dt, t) for name, (dt, t) in tensors.items()},
        "narrowing": narrowing_table(),
    }
    with open(os.path.join(GOLDEN_DIR, "python_dtypes.expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(data)} bytes and the expected values to {GOLDEN_DIR}")


def sample_value(i):
    """Same formula as write-sample.ts: exactly rounded, so float64 then float32 matches bit for bit."""
    return struct.unpack("<f", struct.pack("<f", ((37 * i) % 101 - 50) / 7 * 2.0 ** ((i % 9) - 4)))[0]


def verify():
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "ours.safetensors")
        subprocess.run(["node", "--import", "tsx", "tools/golden/write-sample.ts", out], cwd=ROOT, check=True)
        data = open(out, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0, "buffer start not 8-aligned"
    metadata, tensors, text = parse(data)
    assert text == text.rstrip(" ") + " " * (len(text) - len(text.rstrip(" "))), "padding must be spaces"
    names = [k for k in json.loads(text) if k != "__metadata__"]
    assert names == sorted(names, key=lambda s: s.encode("utf-16-be")), f"header keys not sorted: {names}"
    assert metadata == {"format": "pt", "writer": "msae tools/golden/write-sample.ts"}, metadata
    for name, (dt, shape, raw) in tensors.items():  # every tensor starts aligned to its element size
        start = json.loads(text)[name]["data_offsets"][0]
        assert start % SIZE[dt] == 0, f"{name} misaligned"
    t = {name: to_torch(dt, shape, raw) for name, (dt, shape, raw) in tensors.items()}
    base = torch.tensor([sample_value(i) for i in range(105)], dtype=torch.float32)
    extremes = torch.tensor([65504, 65519.99, 65520, 1e-8, 2**-24, 3 * 2**-26, -0.0, 1e30, -1e30, 1 / 3], dtype=torch.float32)
    checks = {
        "f32": base.reshape(3, 5, 7),
        "f16": base.to(torch.float16).reshape(5, 21),
        "f16_extremes": extremes.to(torch.float16),
        "bf16": base.to(torch.bfloat16),
        "bf16_extremes": extremes.to(torch.bfloat16),
        "f64": torch.tensor([(i - 2.5) / 3 for i in range(6)], dtype=torch.float64).reshape(2, 3),
        "i64": torch.tensor([-(2**62), -1, 0, 2**53 + 1], dtype=torch.int64),
        "i32": torch.tensor([-(2**31), 7, 2**31 - 1], dtype=torch.int32),
        "u8": torch.tensor([255], dtype=torch.uint8),
        "bool": torch.tensor([[True, False], [False, True]]),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, dtype=torch.float32),
        "name with ünïcode": torch.tensor([-32768, 32767], dtype=torch.int16),
    }
    assert set(checks) == set(t), f"tensor names differ: {sorted(t)}"
    for name, want in checks.items():
        got = t[name]
        assert got.dtype == want.dtype and got.shape == want.shape, f"{name}: {got.dtype} {tuple(got.shape)}"
        if want.dtype in (torch.float16, torch.bfloat16):
            ok = torch.equal(got.view(torch.int16), want.view(torch.int16))
        elif want.dtype in (torch.float32, torch.float64):
            ok = torch.equal(got.view(torch.int32 if want.dtype == torch.float32 else torch.int64),
                             want.view(torch.int32 if want.dtype == torch.float32 else torch.int64))
        else:
            ok = torch.equal(got, want)
        assert ok, f"{name}: values differ\n got  {got}\n want {want}"
    print(f"verify: msae's file ({len(data)} bytes, {len(tensors)} tensors) parsed and matched torch bit for bit")


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else "generate"
    if cmd == "generate":
        generate()
    elif cmd == "verify":
        verify()
    else:
        sys.exit(__doc__)

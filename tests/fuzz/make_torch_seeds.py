#!/usr/bin/env python3
"""Writes small seed inputs for the torch checkpoint fuzzer (nernst_fuzz_torch) without PyTorch:
pickles laid out the way torch.save lays them out (persistent storage ids, _rebuild_tensor_v2,
OrderedDict state_dicts, nested trainer dicts), both as whole zip archives (first byte 0x00) and
as bare data.pkl bytes that the harness wraps into an archive (first byte 0x01).
usage: make_torch_seeds.py OUTDIR"""
import collections, io, pickle, sys, types, zipfile, os

torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
for n in ("FloatStorage", "DoubleStorage", "LongStorage", "HalfStorage", "BFloat16Storage", "IntStorage", "BoolStorage"):
    cls = type(n, (), {}); cls.__module__ = "torch"; setattr(torch, n, cls)
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = "torch._utils"; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
def _rebuild_parameter(*a): pass
_rebuild_parameter.__module__ = "torch._utils"; utils._rebuild_parameter = _rebuild_parameter

class Storage:
    def __init__(self, kind, key, numel): self.kind, self.key, self.numel = kind, key, numel
class Tensor:
    def __init__(self, st, off, size, stride): self.a = (st, off, size, stride)
    def __reduce__(self):
        st, off, size, stride = self.a
        return (_rebuild_tensor_v2, (st, off, tuple(size), tuple(stride), False, collections.OrderedDict()))
class Param:
    def __init__(self, t): self.t = t
    def __reduce__(self): return (_rebuild_parameter, (self.t, True, collections.OrderedDict()))

class P(pickle.Pickler):
    def persistent_id(self, o):
        if isinstance(o, Storage): return ("storage", getattr(torch, o.kind), o.key, "cpu", o.numel)
        return None

def dumps(obj, proto=2):
    b = io.BytesIO(); P(b, protocol=proto).dump(obj); return b.getvalue()

s0 = Storage("FloatStorage", "0", 12); s1 = Storage("DoubleStorage", "1", 4)
seeds = {
  "state_dict": collections.OrderedDict([("w", Tensor(s0, 0, [3, 4], [4, 1])), ("b", Tensor(s1, 0, [4], [1]))]),
  "trainer": {"model": {"state_dict": collections.OrderedDict([("layer.weight", Param(Tensor(s0, 2, [2, 5], [1, 2])))])},
              "epoch": 7, "lr": 1e-3, "name": "chgnet", "flags": [True, None, b"xy"], "t": (1, 2.5, "a")},
  "scalars": {"a": Tensor(Storage("LongStorage", "1", 8), 0, [], []), "h": Tensor(Storage("HalfStorage", "0", 16), 1, [3], [2]),
              "z": Tensor(Storage("BFloat16Storage", "0", 4), 0, [0], [1]), "i": Tensor(Storage("IntStorage", "1", 2), 0, [2], [1]),
              "q": Tensor(Storage("BoolStorage", "0", 3), 0, [3], [1])},
}
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
for name, obj in seeds.items():
    for proto in (2, 4):
        pkl = dumps(obj, proto)
        open(os.path.join(out, f"wrapped_{name}_p{proto}"), "wb").write(b"\x01" + pkl)
        z = io.BytesIO()
        with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("archive/data.pkl", pkl); zf.writestr("archive/byteorder", "little")
            zf.writestr("archive/data/0", bytes(range(256))); zf.writestr("archive/data/1", b"\x3f" * 64)
            zf.writestr("archive/version", "3\n")
        open(os.path.join(out, f"zip_{name}_p{proto}"), "wb").write(b"\x00" + z.getvalue())

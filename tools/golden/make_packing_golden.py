"""Golden for src/data/packing.ts: SAELens's own concat_and_batch_sequences on random documents.

Usage (with /usr/bin/python3, which has torch):
    /usr/bin/python3 tools/golden/make_packing_golden.py <path to sae_lens/tokenization_and_batching.py>

The SAELens source is not part of this repository: take it from a SAELens checkout (the committed
golden was made with jbloomAus/SAELens 6.18.0, commit 91ca16cc). Writes test/golden/packing/saelens-packing.json:
a list of cases {C, docs, bb, sep, bs, out}: context size, documents (token ids; 0 plays BOS, 8 a
begin-sequence token), begin_batch / sequence_separator / begin_sequence token ids (or null) and the
full contexts SAELens yields. SAELens never sees empty documents here (it would index tokens[0]
only inside its loop, which an empty document never enters, so skipping them is equivalent).
"""

import importlib.util
import json
import os
import random
import sys

import torch

if len(sys.argv) != 2:
    sys.exit(__doc__)
spec = importlib.util.spec_from_file_location("tab", sys.argv[1])
tab = importlib.util.module_from_spec(spec)
sys.modules["transformers"] = type(sys)("transformers")  # newer versions import a type name only
sys.modules["transformers"].PreTrainedTokenizerBase = object
spec.loader.exec_module(tab)

random.seed(3)
cases = []
for trial in range(120):
    C = random.choice([2, 3, 4, 5, 8, 16])
    docs = []
    for _ in range(random.randint(0, 10)):
        L = random.choice([0, 1, 2, 3, random.randint(0, 30)])
        d = [random.randint(1, 6) for _ in range(L)]
        if d and random.random() < 0.2:
            d[0] = 0  # a document that already starts with BOS
        if d and random.random() < 0.1:
            d[0] = 8  # or with the begin-sequence token
        docs.append(d)
    bb, sep, bs = random.choice([(0, 0, None), (0, 0, 8), (None, 0, None), (None, None, None), (0, 7, None), (0, None, 8)])
    stream = (torch.tensor(d, dtype=torch.long) for d in docs if len(d) > 0)
    out = [b.tolist() for b in tab.concat_and_batch_sequences(stream, C, bb, bs, sep)]
    cases.append({"C": C, "docs": docs, "bb": bb, "sep": sep, "bs": bs, "out": out})

target = os.path.join(os.path.dirname(__file__), "..", "..", "test", "golden", "packing", "saelens-packing.json")
os.makedirs(os.path.dirname(target), exist_ok=True)
with open(target, "w") as f:
    json.dump(cases, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(target)}")

"""A tiny, valid Hugging Face byte-level BPE tokenizer.json, written by hand for the LM fixtures.

Vocabulary: optional leading special tokens, the 256 byte symbols (GPT-2's byte -> printable
unicode map), a few merges of frequent English pairs, optional trailing special tokens.
"""

# Merges in rank order; each pair's parts are in the vocabulary before the merge is added.
MERGES = [
    ("Ġ", "t"), ("h", "e"), ("Ġ", "a"), ("i", "n"), ("Ġt", "he"), ("e", "r"), ("o", "n"), ("Ġ", "s"),
    ("r", "e"), ("a", "t"), ("e", "n"), ("Ġ", "o"), ("e", "d"), ("Ġ", "w"), ("n", "d"), ("Ġ", "b"),
    ("o", "r"), ("i", "s"), ("Ġ", "c"), ("a", "n"), ("Ġ", "f"), ("e", "s"), ("Ġ", "h"), ("l", "l"),
    ("Ġa", "nd"), ("i", "t"), ("Ġ", "m"), ("o", "u"),
]


def bytes_to_unicode() -> dict:
    """GPT-2's reversible byte -> printable character map (printable Latin-1 bytes map to themselves)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    mapping = {}
    extra = 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def _added(token_id: int, content: str) -> dict:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": True,
    }


def make_tokenizer(leading_specials: list, trailing_specials: list) -> tuple:
    """Returns (tokenizer.json dict, vocab size)."""
    vocab = {}
    added = []
    for s in leading_specials:
        added.append(_added(len(vocab), s))
        vocab[s] = len(vocab)
    b2u = bytes_to_unicode()
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    merges = []
    for a, b in MERGES:
        assert a in vocab and b in vocab, (a, b)
        vocab[a + b] = len(vocab)
        merges.append(f"{a} {b}")
    for s in trailing_specials:
        added.append(_added(len(vocab), s))
        vocab[s] = len(vocab)
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }
    return tok, len(vocab)

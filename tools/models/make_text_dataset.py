#!/usr/bin/python3
"""The text data set of the reference text classifier: Debian package short descriptions labelled
by their archive section, tokenized by a frozen word vocabulary.

  --freeze: reads the Debian 12 (bookworm) main amd64 package list from apt's cache
    (/var/lib/apt/lists/*bookworm_main_binary-amd64_Packages.lz4, or --packages FILE) and writes
    models/data/debian-sections.tsv.gz: one line "section<TAB>description" for every distinct
    short description of the ten sections below (descriptions found under two sections are
    dropped), sorted. The file is committed: the package list changes with every point release.
  Default: tokenizes models/data/debian-sections.tsv.gz into
    build/data/debian-sections-train.npz and models/data/debian-sections-test.npz (arrays
    input_ids and attention_mask, int32 [N, 16]; y, int64 [N]), writing the vocabulary of the
    training split to models/data/debian-sections-vocab.txt when it does not exist yet.

Split: a description whose CRC-32 is 0 mod 8 is a test sample (12.5%), the rest train; each
split in a fixed random order.
Tokenizer (tokenize()): lower case, words are runs of [a-z0-9+#] (so "c++" and "c#" stay
words), every other character separates. Ids: 0 [PAD], 1 [CLS], 2 [UNK], then the vocabulary file
in order, line k -> id k + 3: the training split's words seen at least twice, most frequent first
(ties by the word), at most 2045 of them. A sequence is [CLS] and the first 15 words, padded.
"""
import argparse
import collections
import glob
import gzip
import os
import re
import subprocess
import sys
import zlib

import numpy as np

from make_datasets import save_npz

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "models", "data")
TSV = os.path.join(DATA, "debian-sections.tsv.gz")
VOCAB = os.path.join(DATA, "debian-sections-vocab.txt")
SECTIONS = ["admin", "devel", "doc", "games", "graphics", "net", "science", "sound", "text", "utils"]
SEQ = 16
VOCAB_SIZE = 2048
PAD, CLS, UNK = 0, 1, 2


def freeze(packages):
    text = subprocess.run(["lz4", "-dc", packages], check=True, capture_output=True).stdout.decode()
    seen = collections.defaultdict(set)
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line[0].isspace())
        if fields.get("Section") in SECTIONS and fields.get("Description"):
            seen[fields["Description"].strip().replace("\t", " ")].add(fields["Section"])
    rows = sorted(f"{next(iter(s))}\t{d}" for d, s in seen.items() if len(s) == 1)
    with gzip.GzipFile(TSV, "wb", mtime=0) as f:
        f.write(("\n".join(rows) + "\n").encode())
    print(f"{TSV}: {len(rows)} descriptions from {packages}", file=sys.stderr)


def tokenize(text):
    return re.findall(r"[a-z0-9+#]+", text.lower())


def encode(words, ids):
    seq = [CLS] + [ids.get(w, UNK) for w in words[:SEQ - 1]]
    mask = [1] * len(seq) + [0] * (SEQ - len(seq))
    return seq + [PAD] * (SEQ - len(seq)), mask


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--freeze", action="store_true", help="rebuild the .tsv.gz from apt's package list")
    ap.add_argument("--packages", help="the Packages.lz4 file to freeze from")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"), help="where data/debian-sections-train.npz goes")
    args = ap.parse_args()
    if args.freeze:
        found = glob.glob("/var/lib/apt/lists/*_debian_dists_bookworm_main_binary-amd64_Packages.lz4")
        freeze(args.packages or found[0])
        return
    with gzip.open(TSV, "rt") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    test = [zlib.crc32(d.encode()) % 8 == 0 for _, d in rows]
    if not os.path.exists(VOCAB):
        counts = collections.Counter(w for (_, d), t in zip(rows, test) if not t for w in tokenize(d))
        words = sorted((w for w, c in counts.items() if c >= 2), key=lambda w: (-counts[w], w))
        with open(VOCAB, "w") as f:
            f.write("\n".join(words[:VOCAB_SIZE - 3]) + "\n")
    with open(VOCAB) as f:
        ids = {w: k + 3 for k, w in enumerate(f.read().split())}
    splits = {True: ([], [], []), False: ([], [], [])}
    for (section, d), t in zip(rows, test):
        seq, mask = encode(tokenize(d), ids)
        for column, value in zip(splits[t], (seq, mask, SECTIONS.index(section))):
            column.append(value)
    os.makedirs(os.path.join(args.build_dir, "data"), exist_ok=True)
    for t, path in [(False, os.path.join(args.build_dir, "data", "debian-sections-train.npz")),
                    (True, os.path.join(DATA, "debian-sections-test.npz"))]:
        seq, mask, y = splits[t]
        order = np.random.RandomState(0).permutation(len(y))  # the .tsv is sorted by section
        save_npz(path, input_ids=np.array(seq, np.int32)[order], attention_mask=np.array(mask, np.int32)[order],
                 y=np.array(y, np.int64)[order])
        print(f"{os.path.relpath(path, ROOT)}: {len(y)} samples", file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds a sentence-pair task and a regression task from the Rotten Tomatoes review snippets.

No GLUE data is reachable offline, so these two tasks stand in for MRPC/QQP-style pair
classification and STS-B-style regression on real English text. Both come from the critic
snippets of .assets/rotten_tomatoes.csv (12808 snippets labelled fresh or rotten, of 508 movies;
the plot summaries are not used), deterministically from --seed (the same seed writes the same
bytes). Standard library only:

    python3 tools/make_rt_tasks.py --out-dir /tmp/rt [--seed 0] [--pairs 5000]

Files written to --out-dir:

  rt-pairs.csv           label,sentence1,sentence2 (with a header)
      Two snippets of two different movies; label "same" when both critics give the same
      verdict (both fresh or both rotten), "different" otherwise. The four combinations
      (fresh/fresh, rotten/rotten, fresh/rotten, rotten/fresh) are equally likely, so the label
      is balanced and independent of either snippet's sentiment alone: a model must judge the
      sentiment of both snippets and compare them (an XOR of two sentiment judgements), which
      needs both segments. Every snippet is used at most once in the file, so a split of the rows
      never shares a snippet between train and eval. --pairs rows (default 5000; at most ~5400,
      as each pair uses one rotten snippet on average).
      slimfit prepare --input rt-pairs.csv --output rt-pairs.h5 --vocab VOCAB
                      --text-column sentence1 --text-pair-column sentence2
                      (label names in id order: different, same)

  rt-pairs-noheader.csv  the same rows without a header, columns label,text,text_b, for
      slimfit prepare --columns label,text,text_b --text-pair-column text_b ...

  rt-nli.csv             label,premise,hypothesis (with a header)
      An inference task in the shape of MNLI or RTE: the premise is a critic's snippet, the
      hypothesis one of eight fixed sentences saying that the critic liked (4) or disliked (4)
      the movie; "entailment" when the hypothesis matches the critic's verdict, else
      "contradiction". The four combinations of verdict and hypothesis are equally likely, so
      neither segment alone predicts the label: the model must read the premise's sentiment and
      the hypothesis's polarity together. It is the learnable counterpart of rt-pairs, whose
      second segment is another critic's free text. Each snippet is a premise at most once;
      --pairs rows.
      slimfit prepare --input rt-nli.csv --output rt-nli.h5 --vocab VOCAB
                      --text-column premise --text-pair-column hypothesis
                      (label names in id order: contradiction, entailment)

  rt-regression.csv      target,text,movie,reviews (with a header)
      A "mini Tomatometer": 2 to 4 snippets of one movie, joined by " | " in text; the target is
      the fraction of them that are fresh (0, 1/4, 1/3, 1/2, 2/3, 3/4 or 1), the share of these
      critics who liked the movie, which is what Rotten Tomatoes' Tomatometer reports over all of
      a movie's critics. A model must read the sentiment of each snippet in the text and
      average it. The snippets of each movie are shuffled and cut into groups (a group size
      drawn uniformly from 2..4; a last lone snippet is dropped), so every snippet is used at
      most once; about 4200 rows. Movies range from nearly all rotten to all fresh, so the
      targets cover [0, 1]. movie and reviews (the group size) are for reference; a model sees
      only text. Fractions that are not whole make prepare treat the column as regression:
      slimfit prepare --input rt-regression.csv --output rt-regression.h5 --vocab VOCAB
                      --label-column target --max-length 256
      (--max-length 256 keeps every row whole; at 128 a few long groups are cut, hiding part of
      what the target counts.)

A summary of each file (rows, label balance, target histogram) is printed.
"""

import argparse
import collections
import csv
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_snippets(path):
    """(text, fresh, movie) for every fresh or rotten snippet with text, in file order."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        text = " ".join(r["text"].split())  # one line, single spaces
        if r["category"] in ("fresh", "rotten") and text:
            out.append((text, r["category"] == "fresh", r["movie_name"]))
    return out


def shuffled_pools(snippets, n, rng):
    """The fresh and rotten snippets, each shuffled, and n balanced (bool, bool) kinds."""
    pools = {True: [s for s in snippets if s[1]], False: [s for s in snippets if not s[1]]}
    for p in pools.values():
        rng.shuffle(p)
    kinds = [(True, True), (False, False), (True, False), (False, True)] * ((n + 3) // 4)
    kinds = kinds[:n]
    rng.shuffle(kinds)
    return pools, kinds


def make_pairs(snippets, n, rng):
    """n balanced pairs (label, a, b), each snippet used at most once, a and b of other movies."""
    pools, kinds = shuffled_pools(snippets, n, rng)
    need_fresh = sum(a + b for a, b in kinds)
    if need_fresh > len(pools[True]) or 2 * n - need_fresh > len(pools[False]):
        raise SystemExit(f"--pairs {n} needs {need_fresh} fresh and {2 * n - need_fresh} rotten "
                         f"snippets; there are {len(pools[True])} and {len(pools[False])}")
    rows = []
    for fresh_a, fresh_b in kinds:
        a = pools[fresh_a].pop()
        pool_b = pools[fresh_b]
        # The last snippet of the pool not of a's movie (a pool never holds a single movie).
        j = len(pool_b) - 1
        while pool_b[j][2] == a[2]:
            j -= 1
        b = pool_b.pop(j)
        rows.append(("same" if fresh_a == fresh_b else "different", a[0], b[0]))
    return rows


# Hypotheses of rt-nli: what the critic thought, said four ways each.
LIKED = ["The critic liked the movie.", "The critic recommends this film.",
         "This review is favourable.", "The reviewer enjoyed it."]
DISLIKED = ["The critic did not like the movie.", "The critic does not recommend this film.",
            "This review is unfavourable.", "The reviewer did not enjoy it."]


def make_nli(snippets, n, rng):
    """n balanced (label, premise, hypothesis) rows, each snippet used at most once."""
    pools, kinds = shuffled_pools(snippets, n, rng)
    rows = []
    for fresh, says_liked in kinds:
        if not pools[fresh]:
            raise SystemExit(f"--pairs {n}: not enough {'fresh' if fresh else 'rotten'} snippets")
        premise = pools[fresh].pop()[0]
        hypothesis = rng.choice(LIKED if says_liked else DISLIKED)
        rows.append(("entailment" if fresh == says_liked else "contradiction", premise, hypothesis))
    return rows


def make_regression(snippets, rng):
    """(target, text, movie, k) rows: groups of 2..4 snippets of one movie, target = fresh share."""
    by_movie = collections.defaultdict(list)
    for s in snippets:
        by_movie[s[2]].append(s)
    rows = []
    for movie in sorted(by_movie):
        group = by_movie[movie][:]
        rng.shuffle(group)
        while len(group) >= 2:
            k = min(rng.randint(2, 4), len(group))
            chunk, group = group[:k], group[k:]
            fresh = sum(s[1] for s in chunk)
            rows.append((fresh / k, " | ".join(s[0] for s in chunk), movie, k))
    rng.shuffle(rows)
    return rows


def format_target(t):
    # Shortest exact-enough text: 0, 1, 0.5, 0.25, 0.333333, ...
    return f"{t:.6f}".rstrip("0").rstrip(".") if t not in (0.0, 1.0) else str(int(t))


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        if header:
            w.writerow(header)
        w.writerows(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", default=os.path.join(ROOT, ".assets/rotten_tomatoes.csv"))
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=5000)
    args = ap.parse_args()

    snippets = read_snippets(args.csv)
    os.makedirs(args.out_dir, exist_ok=True)

    pairs = make_pairs(snippets, args.pairs, random.Random(f"rt-pairs-{args.seed}"))
    write_csv(os.path.join(args.out_dir, "rt-pairs.csv"), ["label", "sentence1", "sentence2"],
              pairs)
    write_csv(os.path.join(args.out_dir, "rt-pairs-noheader.csv"), None, pairs)
    counts = collections.Counter(p[0] for p in pairs)
    print(f"rt-pairs.csv, rt-pairs-noheader.csv: {len(pairs)} pairs "
          f"(same {counts['same']}, different {counts['different']}) from "
          f"{len(snippets)} snippets")

    nli = make_nli(snippets, args.pairs, random.Random(f"rt-nli-{args.seed}"))
    write_csv(os.path.join(args.out_dir, "rt-nli.csv"), ["label", "premise", "hypothesis"], nli)
    counts = collections.Counter(p[0] for p in nli)
    print(f"rt-nli.csv: {len(nli)} pairs (entailment {counts['entailment']}, contradiction "
          f"{counts['contradiction']})")

    reg = make_regression(snippets, random.Random(f"rt-regression-{args.seed}"))
    write_csv(os.path.join(args.out_dir, "rt-regression.csv"), ["target", "text", "movie", "reviews"],
              [(format_target(t), text, movie, k) for t, text, movie, k in reg])
    hist = collections.Counter(round(t, 3) for t, *_ in reg)
    mean = sum(t for t, *_ in reg) / len(reg)
    print(f"rt-regression.csv: {len(reg)} rows, target mean {mean:.3f}; histogram "
          + ", ".join(f"{t:g}: {hist[t]}" for t in sorted(hist)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

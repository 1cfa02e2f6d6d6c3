#!/usr/bin/env python3
"""Draws BENCHMARKS.md's figures from the committed JSON lines.

    python3 -m venv /tmp/plotenv && /tmp/plotenv/bin/pip install matplotlib
    /tmp/plotenv/bin/python ws-bench/plot.py          # writes ws-bench/results/*.svg

Reads ws-bench/results/peers.jsonl, codecs.jsonl and deflate.jsonl; each
point is the median of the runs with the same label and N, the error bar
their range. The SVGs carry no date or id, so regenerating unchanged data
gives unchanged files.
"""

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# Same bytes for the same input: no timestamp, fixed ids, text kept as text.
plt.rcParams["svg.hashsalt"] = "ws-bench"
plt.rcParams["svg.fonttype"] = "none"
METADATA = {"Date": None, "Creator": None}

SERVERS = [
    ("core", "core (chat example)", "C0", "o", "-"),
    ("raw", "raw (ceiling)", "C2", "s", "-"),
    ("tungstenite", "tokio-tungstenite hub", "C1", "^", "-"),
    ("socketio", "socketioxide", "C4", "D", "-"),
    ("naive", "naive axum hub", "C3", "v", "-"),
    ("naive-nodelay", "naive, TCP_NODELAY", "C3", "v", ":"),
]


def rows(name):
    with open(RESULTS / name) as f:
        return [json.loads(line) for line in f if line.strip()]


def spread(values):
    """median, and the distances down to the min and up to the max."""
    med = statistics.median(values)
    return med, med - min(values), max(values) - med


def cpu_by_fanout(out):
    runs = [r for r in rows("peers.jsonl") if r.get("bench") == "fanout"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, name, color, marker, style in SERVERS:
        ns = sorted({r["clients"] for r in runs if r["label"] == label})
        if not ns:
            continue
        pts = [
            spread([r["server_cpu_us_per_delivery"] for r in runs
                    if r["label"] == label and r["clients"] == n])
            for n in ns
        ]
        ax.errorbar(ns, [p[0] for p in pts],
                    yerr=[[p[1] for p in pts], [p[2] for p in pts]],
                    label=name, color=color, marker=marker, linestyle=style,
                    capsize=3)
        for n, p in zip(ns, pts):
            ax.annotate(f"{p[0]:.3g}", (n, p[0]), textcoords="offset points",
                        xytext=(6, -3), fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks([100, 1000], ["N = 100", "N = 1,000"])
    ax.set_xlim(60, 2500)
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax.tick_params(axis="y", which="minor", labelsize=7)
    ax.set_xlabel("subscribers in the room (fan-out N), 100-byte texts")
    ax.set_ylabel("server CPU µs per delivery (log)")
    ax.set_title("Fan-out: server CPU per delivery (median of 3 runs, range)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(out, metadata=METADATA)
    plt.close(fig)


def bytes_by_codec(out):
    codecs = [r for r in rows("codecs.jsonl") if r.get("bench") == "fanout"]
    deflate = [r for r in rows("deflate.jsonl") if r.get("bench") == "fanout"]
    bars = []  # (group, label, median bytes, color)
    for codec, name, color in (("json", "JSON", "C0"), ("msgpack", "MessagePack", "C2")):
        vals = [r["bytes_per_delivery"] for r in codecs if r["codec"] == codec]
        if vals:
            bars.append(("message-2k.json\n(codecs.sh)", name, statistics.median(vals), color))
    for offered, name, color in ((False, "JSON", "C0"), (True, "JSON + deflate", "C1")):
        vals = [r["wire_bytes_per_delivery"] for r in deflate
                if r["deflate_offered"] == offered]
        if vals:
            bars.append(("oncall-2k.json\n(deflate.sh)", name, statistics.median(vals), color))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    xs = list(range(len(bars)))
    ax.bar(xs, [b[2] for b in bars], color=[b[3] for b in bars])
    for x, b in zip(xs, bars):
        ax.annotate(f"{b[2]:,.0f} B", (x, b[2]), textcoords="offset points",
                    xytext=(0, 3), ha="center", fontsize=8)
    ax.set_xticks(xs, [f"{b[1]}\n{b[0]}" for b in bars], fontsize=8)
    ax.set_ylabel("bytes per delivery (frame, header included)")
    ax.set_title("A realistic ~2 KB chat message: bytes per delivery by codec")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, metadata=METADATA)
    plt.close(fig)


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS
    cpu_by_fanout(out / "cpu-per-delivery.svg")
    bytes_by_codec(out / "bytes-per-delivery.svg")
    print(f"wrote {out / 'cpu-per-delivery.svg'} and {out / 'bytes-per-delivery.svg'}")


if __name__ == "__main__":
    main()

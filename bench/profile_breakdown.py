"""Where a text-to-image call's time goes, by kind of operator, from chrome traces of PyTorch's
profiler (libtorch's RecordProfile or Python's torch.autograd.profiler export_chrome_trace).

    profile_breakdown.py LABEL=TRACE.json [LABEL=TRACE.json ...]

Each operator event (ph "X") is given to the first kind whose names it matches; an event nested
inside an event of some kind (on the same thread) counts for that outer kind only, so a convolution's
own kernels are "conv" and a Linear's matmul is "linear". "other" is the rest of the call's wall
time: operators of no kind, the framework's dispatch, Python. Prints one table, seconds and the
share of each trace's wall time. Standard library only.
"""
import json
import sys

KINDS = [
    ("conv", {"aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution",
              "aten::_slow_conv2d_forward", "aten::thnn_conv2d", "aten::_nnpack_spatial_convolution"}),
    ("linear", {"aten::linear", "aten::addmm", "aten::mm"}),
    ("attention matmul", {"aten::matmul", "aten::bmm", "aten::baddbmm",
                          "aten::_native_multi_head_attention",
                          "aten::scaled_dot_product_attention"}),
    ("softmax", {"aten::softmax", "aten::_softmax"}),
    ("group norm", {"aten::group_norm", "aten::native_group_norm"}),
    ("layer norm", {"aten::layer_norm", "aten::native_layer_norm"}),
    ("activation", {"aten::silu", "aten::silu_", "aten::gelu", "aten::sigmoid", "aten::mish"}),
    ("upsample", {"aten::upsample_nearest2d"}),
    ("copy / layout", {"aten::copy_", "aten::contiguous", "aten::clone", "aten::cat", "aten::to",
                       "aten::_to_copy", "aten::pad", "aten::constant_pad_nd", "aten::index_select",
                       "aten::index_copy", "aten::reshape", "aten::chunk"}),
    ("elementwise", {"aten::add", "aten::add_", "aten::mul", "aten::mul_", "aten::sub", "aten::div",
                     "aten::div_", "aten::addcmul", "aten::clamp", "aten::round", "aten::rsub"}),
]
KIND_OF = {name: kind for kind, names in KINDS for name in names}


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    return [e for e in events if e.get("ph") == "X" and "dur" in e]


def breakdown(events):
    by_thread = {}
    for e in events:
        by_thread.setdefault(e.get("tid"), []).append(e)
    seconds = {kind: 0.0 for kind, _ in KINDS}
    start = min(float(e["ts"]) for e in events)
    end = max(float(e["ts"]) + float(e["dur"]) for e in events)
    for thread in by_thread.values():
        thread.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        open_until = -1.0  # end of the outermost event of a kind now open
        for e in thread:
            ts, dur = float(e["ts"]), float(e["dur"])
            kind = KIND_OF.get(e["name"])
            if kind is None or ts < open_until:
                continue
            seconds[kind] += dur / 1e6
            open_until = ts + dur
    wall = (end - start) / 1e6
    seconds["other"] = max(0.0, wall - sum(seconds.values()))
    return wall, seconds


def main():
    columns = []
    for arg in sys.argv[1:]:
        label, _, path = arg.partition("=")
        columns.append((label, *breakdown(load(path))))
    kinds = [kind for kind, _ in KINDS] + ["other"]
    header = "profile of one batch-1 call".ljust(22) + "".join(
        f"{label + ' s':>14}{'share':>8}" for label, _, _ in columns)
    print(header)
    for kind in kinds:
        row = kind.ljust(22)
        for _, wall, seconds in columns:
            row += f"{seconds[kind]:>14.3f}{100 * seconds[kind] / wall:>7.1f}%"
        print(row)
    print("wall".ljust(22) + "".join(f"{wall:>14.3f}{'':>8}" for _, wall, _ in columns))


if __name__ == "__main__":
    main()

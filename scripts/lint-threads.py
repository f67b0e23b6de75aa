#!/usr/bin/env python3
"""Clang's thread-safety analysis over stipple's sources (`make lint-threads`).

Reads BUILD_DIR/compile_commands.json (GCC's commands, as `make build` configures them) and runs
each translation unit under the given folders through `clang++ -fsyntax-only` with only the
thread-safety warnings on, as errors: GUARDED_BY, REQUIRES, EXCLUDES, ACQUIRE and RELEASE
(src/common/thread_annotations.h) are checked, and nothing else about the code changes. The torch
engine (src/engine/torch, and any file compiled with libtorch's include folders, such as
tools/train's trainer and bench/engine_bench) is left out: clang 14 cannot compile libtorch
1.13's headers, and that code owns no annotated mutex.

usage: lint-threads.py BUILD_DIR JOBS PATH...   (folders, or single .cc files)
"""
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

FLAGS = ["-fsyntax-only", "-Wno-everything", "-Wthread-safety", "-Werror=thread-safety"]


def clang_command(entry):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = ["clang++"]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-MD", "-MMD", "-c"):
            continue
        out.append(a)
    return out + FLAGS


def main():
    build_dir, jobs, dirs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(build_dir, "compile_commands.json")) as f:
        entries = json.load(f)
    wanted = [os.path.normpath(os.path.join(root, d)) for d in dirs]
    chosen = {}  # a file compiled for several targets is checked once
    for e in entries:
        path = os.path.normpath(os.path.join(e["directory"], e["file"]))
        command = e.get("command", " ".join(e.get("arguments", [])))
        if not any(path == w or path.startswith(w + "/") for w in wanted):
            continue
        if "/src/engine/torch/" in path or "/include/torch" in command:
            continue
        chosen.setdefault(path, e)
    chosen = sorted(chosen.items())

    def check(item):
        path, e = item
        r = subprocess.run(clang_command(e), cwd=e["directory"], capture_output=True, text=True)
        return path, r.returncode, r.stderr

    start = time.monotonic()
    failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, code, err in pool.map(check, chosen):
            if code != 0:
                failed += 1
                sys.stderr.write(err)
    took = time.monotonic() - start
    if failed:
        print(f"thread-safety: {failed} of {len(chosen)} files failed ({took:.0f} s)")
        return 1
    print(f"thread-safety: {len(chosen)} files ok ({took:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

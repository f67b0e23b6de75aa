#!/usr/bin/env python3
"""Writes the seed corpora of stipple's fuzz targets (fuzz/corpus/<target>/): real examples from
src/engine/testdata and the API reference, and small synthetic files that reach the parsers'
branches (PNG colour types, safetensors dtypes, checkpoint headers). Run by hand from the
repository root (python3 tools/fuzz/make_seeds.py) after changing it; the output is committed.
Standard library only. Files it does not write (inputs that once crashed a target, kept as
regression seeds: crash-*) are left alone."""

import json
import os
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
TESTDATA = os.path.join(ROOT, "src", "engine", "testdata")


def put(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def read(*parts):
    with open(os.path.join(TESTDATA, *parts), "rb") as f:
        return f.read()


TASK_ID = "tsk_01JD5Y6K8Q2V9M3N4P5R6S7T8V"
REQUEST = {
    "prompt": "a big red circle on the left", "negative_prompt": "", "model": "shapes-32",
    "width": 32, "height": 32, "steps": 20, "guidance_scale": 4.0, "scheduler": "ddim",
    "clip_skip": 0, "seed": 42, "num_images": 1, "priority": "normal", "ttl_s": None,
    "timeout_s": 300, "webhook": None, "metadata": {}}


def task(status, **extra):
    t = {"id": TASK_ID, "status": status, "created_at": "2026-01-02T03:04:05.678Z",
         "started_at": None, "completed_at": None, "request": REQUEST, "queue_position": None,
         "eta_s": None, "progress": None, "attempts": 0, "cancel_requested": False,
         "error": None, "outputs": [], "outputs_expire_at": None, "metadata": {},
         "urls": {"self": "/v1/tasks/" + TASK_ID, "events": "/v1/tasks/" + TASK_ID + "/events",
                  "cancel": "/v1/tasks/" + TASK_ID + "/cancel"}}
    t.update(extra)
    return t


def generation_request():
    seeds = {
        "minimal": {"prompt": "a red circle"},
        "full": dict(REQUEST, ttl_s=600, webhook={"url": "https://example.com/hook",
                                                 "events": ["started", "progress", "completed"]},
                     metadata={"any": "json", "n": [1, 2.5, None, True]}, priority="high"),
        "sd": {"prompt": "a photo of a cat", "model": "sd15", "width": 768, "height": 512,
               "scheduler": "euler_a", "clip_skip": 2, "num_images": 4, "seed": 4294967295},
        "unicode": {"prompt": "caf\u00e9 \U0001F431 &amp; \u0130", "negative_prompt": "blur"},
        "wrong_types": {"prompt": 42, "steps": "20", "width": 32.5, "webhook": []},
    }
    for name, body in seeds.items():
        put("generation_request", name + ".json", json.dumps(body))
    put("generation_request", "not_an_object.json", '["prompt"]')


def task_codec():
    succeeded = task("succeeded", started_at="2026-01-02T03:04:06Z",
                     completed_at="2026-01-02T03:04:07.5Z", progress={"step": 20, "steps": 20},
                     attempts=1, outputs=[{"index": 0, "url": "/v1/tasks/%s/outputs/0" % TASK_ID,
                                           "content_type": "image/png", "width": 32,
                                           "height": 32, "seed": 42}],
                     outputs_expire_at="2026-01-03T03:04:07Z")
    failed = task("failed", error={"code": "engine_error", "message": "out of memory"},
                  attempts=3)
    put("task_codec", "task_queued.json", json.dumps(task("queued", queue_position=3, eta_s=4.2)))
    put("task_codec", "task_succeeded.json", json.dumps(succeeded))
    put("task_codec", "task_failed.json", json.dumps(failed))
    put("task_codec", "event_progress.json", json.dumps(
        {"type": "progress", "task_id": TASK_ID, "seq": 4, "time": "2026-01-02T03:04:06Z",
         "step": 3, "steps": 20, "preview": "iVBORw0KGgo="}))
    put("task_codec", "event_started.json", json.dumps(
        {"type": "started", "task_id": TASK_ID, "seq": 2, "time": "2026-01-02T03:04:06Z",
         "attempt": 1, "worker": "wkr_1"}))
    put("task_codec", "event_succeeded.json", json.dumps(
        {"type": "succeeded", "task_id": TASK_ID, "seq": 9, "time": "2026-01-02T03:04:07Z",
         "task": succeeded}))
    put("task_codec", "page.json", json.dumps(
        {"object": "list", "data": [succeeded, failed], "next_cursor": "c_abc", "has_more": True}))
    put("task_codec", "models.json", json.dumps(
        {"object": "list", "data": [
            {"id": "sd15", "object": "model", "width": 512, "height": 512, "max_clip_skip": 11,
             "sizes": [[512, 512], [768, 512]], "schedulers": ["ddim", "euler_a"],
             "default_steps": 25, "max_steps": 150, "default": True},
            {"id": "old", "width": 32, "height": 32}]}))
    put("task_codec", "queue.json", json.dumps(
        {"queued": 3, "running": 1, "workers": 2, "models": {"shapes-32": {"queued": 3}},
         "by_priority": {"high": 0, "normal": 3, "low": 0}, "eta_s": 1.5}))
    put("task_codec", "workers.json", json.dumps(
        {"object": "list", "data": [{"id": "wkr_1", "host": "gpu-3", "device": "cuda:0",
                                     "models": ["shapes-32"], "max_batch": 4, "running": 1,
                                     "last_seen": "2026-01-02T03:04:06Z"}]}))
    for word in ("queued", "running", "high", "progress", "canceled"):
        put("task_codec", "name_" + word, word)


def worker_wire():
    request = {
        "worker_id": "wkr_01J", "ack": 41,
        "hello": {"host": "gpu-3", "device": "cuda:0", "models": ["shapes-32"], "max_batch": 4},
        "messages": [
            {"seq": 42, "type": "heartbeat", "task_id": TASK_ID, "fencing": 7, "lease_ms": 30000,
             "progress": {"step": 12, "steps": 20}},
            {"seq": 43, "type": "progress", "task_id": TASK_ID, "fencing": 7,
             "progress": {"step": 13, "steps": 20}, "preview_png": "iVBORw0KGgo="},
            {"seq": 44, "type": "complete", "task_id": TASK_ID, "fencing": 7,
             "images": [{"png": "iVBORw0KGgo=", "width": 32, "height": 32, "seed": 42}]},
            {"seq": 45, "type": "fail", "task_id": TASK_ID, "fencing": 8, "kind": "transient",
             "code": "engine_error", "message": "oops", "retry_after_ms": 2000},
            {"seq": 46, "type": "release", "task_id": TASK_ID, "fencing": 9},
            {"seq": 47, "type": "canceled", "task_id": TASK_ID, "fencing": 10}],
        "lease": {"models": ["shapes-32"], "max_tasks": 4, "lease_ms": 30000, "wait_ms": 2000},
        "goodbye": False}
    put("worker_wire", "request.json", json.dumps(request))
    put("worker_wire", "request_min.json", json.dumps({"worker_id": "wkr_1", "ack": 0}))
    lease = {"id": TASK_ID, "tenant": "acme", "fencing": 11, "attempts": 1, "max_attempts": 3,
             "created_at_ms": 1764140000000, "started_at_ms": 1764140001000,
             "lease_expires_at_ms": 1764140031000, "request": REQUEST}
    response = {
        "replies": [
            {"seq": 42, "ok": True, "lease_expires_at_ms": 1764140000000,
             "cancel_requested": False},
            {"seq": 44, "ok": True, "state": "succeeded"},
            {"seq": 46, "ok": False, "error": {"code": "ABORTED", "message": "lease lost"}}],
        "leases": [lease],
        "lease_error": {"code": "INVALID_ARGUMENT", "message": "unknown model"}}
    put("worker_wire", "response.json", json.dumps(response))


def sse_parser():
    stream = ("event: queued\nid: 1\ndata: {\"type\":\"queued\",\"seq\":1}\n\n"
              ": keep-alive\n\n"
              "event: progress\r\nid: 2\r\ndata: {\"step\":1,\r\ndata:  \"steps\":20}\r\n\r\n"
              "event: succeeded\rid: 3\rdata: {}\r\r"
              "retry: 1000\ndata\n\nid\ndata:x")
    put("sse_parser", "mixed", b"\x00\x30" + stream.encode())
    put("sse_parser", "split_crlf", b"\x00\x3d" + b"data: a\r\ndata: b\r\n\r\n")


def text_fields():
    for i, text in enumerate([
            "https://example.com/hook", "http://[::1]:8080/x?y=z", "http://localhost./",
            "https://user@ip6-localhost:443/p", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "5,300,1800", "0.5, 2.25", "http://127.0.0.1:8080", "120", "SGVsbG8gd29ybGQ=",
            "SGVsbG8", "48656c6c6f", "2026-01-02T03:04:05.678Z", "2026-01-02T03:04:05+01:30",
            "metadata.google.internal"]):
        put("text_fields", "f%02d" % i, text)


def safetensors_file(tensors, metadata=None, pad=True):
    header = {}
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors():
    put("safetensors", "latents_a.safetensors", read("models", "sd1-tiny", "expected",
                                                      "ddim-1.safetensors"))
    put("safetensors", "latents_b.safetensors", read("models", "sd1-tiny", "expected",
                                                      "ddim-2.safetensors"))
    f32 = struct.pack("<4f", 1.0, -2.5, 0.0, 3.25)
    f16 = struct.pack("<4e", 1.0, -2.5, 65504.0, 0.0)
    bf16 = b"\x80\x3f\x00\xc0\x00\x00\x80\x7f"
    put("safetensors", "dtypes.safetensors", safetensors_file(
        {"a": ("F32", [2, 2], f32), "b": ("F16", [4], f16), "c": ("BF16", [2, 2], bf16),
         "s": ("F32", [], struct.pack("<f", 7.0)), "e": ("F32", [0, 3], b""),
         "ids": ("I64", [2], struct.pack("<2q", 0, 1))},
        metadata={"format": "pt"}))


def ldm_checkpoint():
    # The header of each tiny single-file checkpoint: names and shapes, no data (header_only).
    for name in ("sd1", "sd2", "sdxl"):
        raw = read("ldm", name + ".safetensors")
        (n,) = struct.unpack("<Q", raw[:8])
        put("ldm_checkpoint", name + ".header", raw[:8 + n])


def ldm_yaml():
    put("ldm_yaml", "sd2.yaml", """model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    parameterization: "v"
    linear_start: 0.00085
    linear_end: 0.012
    timesteps: 1000
    scale_factor: 0.18215
    unet_config:
      params:
        num_head_channels: 64
        use_linear_in_transformer: True
        context_dim: 1024
""")
    put("ldm_yaml", "sdxl.yaml", """model:
  params:
    denoiser_config:
      params:
        scaling_config:
          target: sgm.modules.diffusionmodules.denoiser_scaling.VScaling
    network_config:
      params:
        num_heads: 8
        context_dim: [2048]
""")
    put("ldm_yaml", "anchors.yaml", "a: &x {b: [1, 2]}\nmodel: *x\n---\n- !!str 3\n")


def model_config():
    seen = 0
    for top, _, files in sorted(os.walk(TESTDATA)):
        for name in sorted(files):
            if name not in ("config.json", "scheduler_config.json"):
                continue
            path = os.path.join(top, name)
            if os.path.getsize(path) > 8192:
                continue
            rel = os.path.relpath(path, TESTDATA).replace(os.sep, "_")
            with open(path, "rb") as f:
                put("model_config", rel, f.read())
            seen += 1
    put("model_config", "null_model.json",
        b'{"step_delay_ms": 5, "width": 64, "height": 48, "default_steps": 4}\n')
    for name in sorted(os.listdir(os.path.join(TESTDATA, "schedulers"))):
        if name.endswith(".json") and name not in ("cases.json", "sample_pred.json"):
            data = read("schedulers", name)
            if len(data) <= 8192:
                put("model_config", "schedulers_" + name, data)
    assert seen > 0


def bundle(folder, files):
    out = b""
    for rel in files:
        path = os.path.join(TESTDATA, "models", folder, rel)
        if os.path.exists(path):
            with open(path, "rb") as f:
                out += b"--8<-- " + rel.encode() + b"\n" + f.read() + b"\n"
    return out


def diffusers_folder():
    parts = ["model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
             "scheduler/scheduler_config.json", "tokenizer/tokenizer_config.json",
             "tokenizer/special_tokens_map.json"]
    xl = parts + ["text_encoder_2/config.json", "tokenizer_2/tokenizer_config.json",
                  "tokenizer_2/special_tokens_map.json"]
    # The tokenizer vocabularies of the tiny models are replaced by the tiny CLIP one (small).
    vocab = (b"--8<-- tokenizer/vocab.json\n" + read("clip-vocab-tiny", "vocab.json") +
             b"\n--8<-- tokenizer/merges.txt\n" + read("clip-vocab-tiny", "merges.txt") + b"\n")
    put("diffusers_folder", "sd1", bundle("sd1-tiny", parts) + vocab)
    put("diffusers_folder", "sd2v", bundle("sd2v-tiny", parts) + vocab)
    put("diffusers_folder", "sdxl", bundle("sdxl-tiny", xl) + vocab +
        vocab.replace(b"tokenizer/", b"tokenizer_2/"))


def clip_tokenizer_files():
    put("clip_tokenizer_files", "tiny", read("clip-vocab-tiny", "vocab.json") + b"\n--8<--\n" +
        read("clip-vocab-tiny", "merges.txt"))
    put("clip_tokenizer_files", "small", json.dumps(
        {"a": 0, "b": 1, "a</w>": 2, "b</w>": 3, "ab</w>": 4, "<|startoftext|>": 5,
         "<|endoftext|>": 6}) + "\n--8<--\n#version: 0.2\na b</w>\n")


def clip_prompt():
    for i, text in enumerate([
            "a photo of a cat", "A  Big\tRED circle&amp;amp; &#x1F431; &notanentity;",
            "<|startoftext|>it's we'll I'd<|endoftext|>", "\u0130stanbul \u03a3\u039f\u03a3 \u017ft",
            "123 4.5e6 \u0345\u00a0\u3000x", "caf\u00e9 na\u00efve \u65e5\u672c\u8a9e",
            "\xff\xfe invalid"]):
        put("clip_prompt", "p%02d" % i, text.encode("utf-8", "surrogateescape")
            if "\xff" not in text else b"\xff\xfe invalid \xc3")


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_file(width, height, depth, colour, rows, extra=b"", interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    raw = b"".join(b"\x00" + row for row in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def png():
    put("png", "sd1_ddim.png", read("models", "sd1-tiny", "expected", "ddim-1.png"))
    put("png", "ldm_sd2.png", read("ldm", "expected", "sd2-5-ddim.png"))
    put("png", "grey8.png", png_file(3, 2, 8, 0, [b"\x00\x80\xff", b"\x10\x20\x30"]))
    put("png", "grey_alpha.png", png_file(2, 1, 8, 4, [b"\x10\xff\x20\x00"]))
    put("png", "rgba16.png", png_file(1, 1, 16, 6, [b"\x01\x02\x03\x04\x05\x06\x07\x08"]))
    put("png", "palette.png", png_file(4, 1, 2, 3, [b"\x1b"],
                                       extra=png_chunk(b"PLTE", b"\x00\x00\x00\xff\x00\x00"
                                                       b"\x00\xff\x00\x00\x00\xff")))
    put("png", "interlaced.png", png_file(2, 2, 8, 2, [b"\x01\x02\x03\x04\x05\x06"] * 2,
                                          interlace=1))


def http_gateway():
    body = json.dumps({"prompt": "a red circle", "steps": 4})
    requests = {
        "submit": "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: %d\r\nIdempotency-Key: k1\r\n\r\n%s" % (len(body), body),
        "submit_chunked": "POST /v1/tasks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                          "Content-Type: application/json\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                          % (len(body), body),
        "get": "GET /v1/tasks/%s HTTP/1.1\r\nHost: x\r\n\r\n" % TASK_ID,
        "wait": "GET /v1/tasks/%s HTTP/1.1\r\nHost: x\r\nPrefer: wait=1\r\n\r\n" % TASK_ID,
        "list": "GET /v1/tasks?limit=2&status=queued HTTP/1.1\r\nHost: x\r\n\r\n",
        "events": "GET /v1/tasks/%s/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 0\r\n"
                  "Accept: text/event-stream\r\n\r\n" % TASK_ID,
        "cancel": "POST /v1/tasks/%s/cancel HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                  % TASK_ID,
        "output": "GET /v1/tasks/%s/outputs/0 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\n\r\n"
                  % TASK_ID,
        "misc": "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/queue HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /healthz HTTP/1.1\r\n\r\nGET /readyz HTTP/1.1\r\n\r\n"
                "GET /metrics HTTP/1.1\r\n\r\nHEAD /openapi.json HTTP/1.1\r\n\r\n",
        "openai": "POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n"
                  "{\"prompt\":\"a red circle\",\"n\":1,\"size\":\"\"}",
        "websocket": "GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        "malformed": "GET /v1/tasks HTTP/9.9\r\nBad Header\r\nContent-Length: -1\r\n\r\n",
        "worker": "POST /v1/worker/exchange HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n"
                  "{\"worker_id\":\"w\"}   ",
    }
    for name, text in requests.items():
        put("http_gateway", name, text)


def main():
    for f in (generation_request, task_codec, worker_wire, sse_parser, text_fields, safetensors,
              ldm_checkpoint, ldm_yaml, model_config, diffusers_folder, clip_tokenizer_files,
              clip_prompt, png, http_gateway):
        f()


if __name__ == "__main__":
    main()

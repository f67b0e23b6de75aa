"""CLIP tokenizer goldens, from openai-clip's SimpleTokenizer and its real vocabulary.

Writes into src/engine/testdata/:
  ../clip_vocab/         the Hugging Face form of CLIP's tokenizer (vocab.json, merges.txt,
                         tokenizer_config.json, special_tokens_map.json) — what SD 1.x ships
  clip-vocab-tiny/       a truncated vocabulary (the 512 byte symbols, the first TINY_MERGES
                         merges, the two special tokens; 1,024 ids) for tiny test models
  clip-tokenizer-golden.json
                         ~1,100 varied prompts with SimpleTokenizer's ids (pad <|endoftext|>),
                         a sample of them padded with "!", and prompts for the tiny vocabulary

Each case stores the ids up to <|endoftext|> ("ids") and the pad token; the test appends the pad
id up to "max_length" (77) and compares all of them.

Run from the project's root:
    . ../shared/reference/env.sh && /usr/bin/python3 tools/goldens/clip_tokenizer.py
"""

import html.entities
import json
import os
import random
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import simple_tokenizer  # openai-clip's clip/simple_tokenizer.py, via env.sh

from ref_clip import encode_prompt

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TESTDATA = os.path.join(ROOT, "src", "engine", "testdata")
CONTEXT = 77
TINY_MERGES = 510  # 512 + 510 + 2 = 1,024 ids
SOT, EOT = "<|startoftext|>", "<|endoftext|>"


def special_tokens_map(pad):
    return {"bos_token": SOT, "eos_token": EOT, "pad_token": pad, "unk_token": EOT}


def write_hf_folder(folder, encoder, merges, pad=EOT):
    """vocab.json / merges.txt / tokenizer_config.json / special_tokens_map.json as transformers'
    CLIPTokenizer saves them (the vocabulary in id order)."""
    os.makedirs(folder, exist_ok=True)
    vocab = dict(sorted(encoder.items(), key=lambda kv: kv[1]))
    assert sorted(vocab.values()) == list(range(len(vocab))), "ids must be dense"
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    config = {"model_max_length": CONTEXT, "tokenizer_class": "CLIPTokenizer",
              "do_lower_case": True, "errors": "replace", **special_tokens_map(pad)}
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(folder, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(special_tokens_map(pad), f, indent=2)


def merges_in_rank_order(tokenizer):
    return [pair for pair, _ in sorted(tokenizer.bpe_ranks.items(), key=lambda kv: kv[1])]


def truncated_tokenizer(num_merges):
    """A SimpleTokenizer that knows only the first num_merges merges: its vocabulary is the 512
    byte symbols, those merges' results and the two special tokens, numbered densely in that
    order (which is the full vocabulary's order, so the first ids agree)."""
    t = simple_tokenizer.SimpleTokenizer()
    merges = merges_in_rank_order(t)[:num_merges]
    byte_symbols = list(simple_tokenizer.bytes_to_unicode().values())
    vocab = byte_symbols + [s + "</w>" for s in byte_symbols]
    vocab += ["".join(m) for m in merges] + [SOT, EOT]
    assert len(set(vocab)) == len(vocab)
    t.encoder = {s: i for i, s in enumerate(vocab)}
    t.decoder = {i: s for s, i in t.encoder.items()}
    t.bpe_ranks = {m: i for i, m in enumerate(merges)}
    t.cache = {SOT: SOT, EOT: EOT}
    return t, merges


def write_truncated_vocab(folder, num_merges, pad=EOT):
    t, merges = truncated_tokenizer(num_merges)
    write_hf_folder(folder, t.encoder, merges, pad)
    return t


# ---- prompts ----

WORDS = ("a photo of cat dog astronaut riding horse on the moon portrait woman man castle forest "
         "sunset beach city street night rain neon cyberpunk oil painting watercolor sketch "
         "highly detailed sharp focus trending artstation concept art octane render unreal engine "
         "cinematic lighting bokeh golden hour studio ghibli by greg rutkowski masterpiece best "
         "quality ultra realistic 8k hdr volumetric fog dramatic epic fantasy landscape mountains "
         "lake reflection red blue green yellow purple orange black white small large tiny giant "
         "cute fluffy robot dragon wizard knight spaceship underwater coral reef flowers garden "
         "steampunk gothic baroque minimalist abstract surreal vaporwave pixel isometric low poly "
         "anime manga comic illustration digital smooth intricate elegant symmetrical centered "
         "wide angle macro 35mm f/1.8 canon nikon kodak portra film grain vintage retro").split()
UNICODE_WORDS = ("café naïve façade résumé jalapeño Ångström Straße ŒUVRE İstanbul ΟΔΥΣΣΕΥΣ "
                 "Σίσυφος ΣΟΦΟΣ москва Привет Ελληνικά ǅemal ﬁne ﬂower ǈubljana Ǳ ᾼ ß ẞ ſtar "
                 "東京 夜景 猫の写真 高清 壁纸 中国山水画 한국어 서울의 밤 ひらがな カタカナ "
                 "مرحبا بالعالم שלום עולם नमस्ते दुनिया สวัสดี ქართული Հայերեն ዓለም "
                 "Ελλάδα čšž łódź Øresund Ærø ĳssel ŉ ǰ ΐ ﬀ Ωmega ℃ ℉ Ⅻ ⅷ ½ ¾ ² ³ ① ⑳ ٣ ۴ ߁ ௫ "
                 "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐁𝐨𝐥𝐝 ＦＵＬＬＷＩＤＴＨ ｶﾀｶﾅ ㈱ ㍿ Ⓐ ⓑ").split()
EMOJI = ["😀", "😂", "🥰", "😎", "🤖", "👽", "🐱", "🐶", "🦄", "🌈", "🔥", "✨", "⭐", "🌙", "☀️",
         "❤️", "💙", "👍🏽", "👩‍🚀", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵", "🇺🇸", "1️⃣", "#️⃣", "©️", "™", "🎨",
         "🖌️", "📷", "🍕", "🍣", "🚀", "🛸", "🌊", "🏔️", "🌸", "🍂", "❄️", "⚡", "💀", "👻",
         "🧙‍♂️", "🧜‍♀️", "🫠", "🪐", "🧊", "🦖"]
PUNCT = list(",.;:!?-_()[]{}<>|/\\@#$%^&*+=~`\"'") + ["...", "--", "!!", "?!", ":)", ";-)", "->",
                                                       "=>", "<3", "...!!!", "'''", "\"\""]
WHITESPACE = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\u2009", "\u202f",
              "\u205f", "\u1680", "\u2028", "\u2029", "\x0b", "\x0c", "\x85", "\x1c", "\x1f",
              "\u200b", "\ufeff", "\u180e"]
CONTRACTIONS = ["it's", "It'S", "don't", "DON'T", "we're", "they've", "I'm", "you'll", "he'd",
                "rock'n'roll", "'s", "'''s", "o'clock", "y'all", "it’s", "dog's", "DOGS'",
                "'twas", "ma'am", "'ll'", "it'ſ", "'RE", "ol'"]


def random_html_entity(rng):
    kind = rng.randrange(7)
    names = sorted(html.entities.html5)
    if kind == 0:
        return "&" + rng.choice(names)
    if kind == 1:
        return "&#" + str(rng.choice([0, 9, 10, 13, 38, 39, 60, 65, 128, 133, 150, 159, 160, 233,
                                      0x3b1, 0xd800, 0xdfff, 0xfdd0, 0xfffe, 0x1f600, 0x10ffff,
                                      0x110000, 99999999, rng.randrange(0x20, 0x3000)])) \
            + rng.choice([";", "", " "])
    if kind == 2:
        return "&#" + rng.choice("xX") + "%x" % rng.choice(
            [0x26, 0x3c, 0x80, 0x9f, 0xa9, 0x1f431, 0xd83d, 0x7fffffff, rng.randrange(0x20, 0xfff)]) \
            + rng.choice([";", ""])
    if kind == 3:
        return "&amp;" + rng.choice(["lt;", "gt;", "amp;", "#39;", "quot;", "nbsp;", "amp;lt;"])
    if kind == 4:
        return rng.choice(["&", "& amp;", "&#;", "&#x;", "&;", "&&", "&nosuchentity;", "&ampx",
                           "&copyright", "&notit;", "&notin;", "&AMP", "&Amp;", "&lt3", "&#65abc",
                           "&#x41g", "&" + "a" * 40 + ";", "&lt" + "b" * 35])
    if kind == 5:
        return "&" + rng.choice([n for n in names if not n.endswith(";")]) + rng.choice(
            ["", "x", "1", ";", " "])
    return rng.choice(["&nbsp;", "&eacute;", "&Eacute;", "&hellip;", "&mdash;", "&ndash;",
                       "&rsquo;", "&ldquo;", "&times;", "&deg;", "&NewLine;", "&Tab;",
                       "&ThinSpace;", "&zwnj;", "&NotEqualTilde;", "&fjlig;"])


def words(rng, n, pool=WORDS):
    return [rng.choice(pool) for _ in range(n)]


def sd_prompt(rng):
    parts = []
    for _ in range(rng.randrange(1, 8)):
        phrase = " ".join(words(rng, rng.randrange(1, 5)))
        r = rng.random()
        if r < 0.15:
            phrase = "(" + phrase + ":" + f"{rng.uniform(0.5, 1.6):.1f}" + ")"
        elif r < 0.25:
            phrase = "[" + phrase + "]"
        elif r < 0.3:
            phrase = "<lora:" + phrase.replace(" ", "_") + ":0.8>"
        elif r < 0.4:
            phrase = phrase.upper()
        elif r < 0.5:
            phrase = phrase.title()
        parts.append(phrase)
    return rng.choice([", ", ",", " , ", ". ", " | ", "; "]).join(parts)


def mixed(rng, pools, n):
    return "".join(rng.choice(rng.choice(pools)) + rng.choice(["", " ", " ", ""])
                   for _ in range(n))


def random_codepoints(rng, n):
    out = []
    while len(out) < n:
        c = rng.choice([rng.randrange(0x20, 0x800), rng.randrange(0x800, 0x10000),
                        rng.randrange(0x10000, 0x2FA20)])
        ch = chr(c)
        if 0xD800 <= c <= 0xDFFF or unicodedata.category(ch) in ("Cn", "Cs", "Co"):
            continue
        out.append(ch)
    return "".join(out)


def prompts():
    rng = random.Random(14)
    fixed = [
        "", " ", "\t\n ", "a photo of a cat", "A Photo Of A Cat", "A PHOTO OF A CAT",
        "a photo of a cat.", "astronaut riding a horse on the moon, highly detailed, 8k",
        "1234567890", "3.14159 x 2.71828 = 8.5397", "2023-10-31T12:34:56Z", "$1,000,000",
        "100%", "#hashtag @mention", "email@example.com https://example.com/a?b=c&d=e#f",
        "C:\\Users\\name\\file.txt", "snake_case camelCase kebab-case PascalCase",
        "<|startoftext|>a photo<|endoftext|>", "<|ENDOFTEXT|> <|StartOfText|>",
        "<|endoftext|><|endoftext|>", "<|ſtartoftext|>", "<|endoftext", "|endoftext|>",
        "it's", "It'S", "don't stop", "'s", "'", "''", "'''s", "dog's toy's", "it’s",
        "can't won't shouldn't", "I'M YOU'LL HE'D WE'VE THEY'RE",
        "&amp;", "&amp;amp;", "&lt;b&gt;bold&lt;/b&gt;", "caf&eacute;", "&#39;quoted&#39;",
        "&#x1F431; cat", "&copy 2024", "&notit;", "&ampx", "& amp ;",
        "café", "CAFÉ", "cafe\u0301", "İstanbul", "ΟΔΥΣΣΕΥΣ", "ΣΟΦΟΣ Σ", "Straße STRASSE ẞ",
        "ǅ ǆ Ǆ", "ﬁne ﬂower", "東京の夜景", "一只猫", "고양이 사진", "кошка на луне",
        "🐱🐶🦄", "👩‍🚀 in space", "🏳️‍🌈", "👍🏽👍🏿", "❤️❤️❤️",
        "   leading and trailing   ", "tabs\tand\nnewlines\r\nhere", "nbsp\u00a0here",
        "ideographic\u3000space", "zero\u200bwidth", "\x1cfile\x1fseparators\x1d",
        "a" * 300, "ab" * 200, "1" * 100, "!" * 100, "!!!???...", "....", "a.b.c.d",
        "x" + " " * 50 + "y", "\u0000nul", "\ufffd", "\u00ad soft hyphen", "e\u0301\u0302",
        "नमस्ते", "مرحبا", "שלום", "ไทย", "Ⅻ ½ ① ٣ ²", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ＦＵＬＬ ｗｉｄｔｈ",
        "a\u0345b -\u0345- \u0345", "&NewLine;&Nfr;&Tab;&nfr;&Nfr", "line&NewLine;break&Tab;tab",
        " ".join(WORDS), " ".join(WORDS[:80]), ", ".join(WORDS[:60]),
    ]
    out = list(fixed)
    for _ in range(300):
        out.append(sd_prompt(rng))
    for _ in range(150):
        out.append(mixed(rng, [WORDS, UNICODE_WORDS, PUNCT], rng.randrange(1, 12)))
    for _ in range(90):
        out.append(mixed(rng, [WORDS, EMOJI, UNICODE_WORDS], rng.randrange(1, 10)))
    for _ in range(110):
        out.append(" ".join(words(rng, rng.randrange(0, 4))) + " " + "".join(
            random_html_entity(rng) + rng.choice(["", " ", "x"]) for _ in range(rng.randrange(1, 5))))
    for _ in range(80):
        out.append("".join(rng.choice(WORDS + WHITESPACE + WHITESPACE) for _ in range(rng.randrange(1, 15))))
    for _ in range(80):
        out.append(" ".join(rng.choice(CONTRACTIONS + WORDS) for _ in range(rng.randrange(1, 8))))
    for _ in range(60):
        pool = rng.choice([WORDS, UNICODE_WORDS, EMOJI, PUNCT])
        out.append(" ".join(rng.choice(pool) for _ in range(rng.randrange(60, 200))))
    for _ in range(50):
        out.append(random_codepoints(rng, rng.randrange(1, 40)))
    for _ in range(50):
        s = sd_prompt(rng)
        out.append("".join(c.upper() if rng.random() < 0.5 else c for c in s))
    for _ in range(30):
        out.append("".join(rng.choice("0123456789.,:-/ x%") for _ in range(rng.randrange(1, 30))))
    return out


def main():
    t = simple_tokenizer.SimpleTokenizer()
    merges = merges_in_rank_order(t)
    assert len(merges) == 48894 and len(t.encoder) == 49408
    write_hf_folder(os.path.join(TESTDATA, "..", "clip_vocab"), t.encoder, merges)

    tiny = write_truncated_vocab(os.path.join(TESTDATA, "clip-vocab-tiny"), TINY_MERGES)
    assert len(tiny.encoder) == 1024

    texts = prompts()
    cases = []

    def case(tokenizer, text, pad):
        full = encode_prompt(tokenizer, text, pad, CONTEXT)
        n = min(len(tokenizer.encode(text)), CONTEXT - 2) + 2
        pad_id = tokenizer.encoder[pad]
        assert len(full) == CONTEXT and all(i == pad_id for i in full[n:])
        return {"text": text, "pad": pad, "ids": full[:n]}

    for text in texts:
        cases.append(case(t, text, EOT))
    rng = random.Random(77)
    bang = rng.sample(texts, 120)
    bang_cases = [case(t, text, "!") for text in bang]
    tiny_cases = [case(tiny, text, EOT) for text in texts[:60] + rng.sample(texts, 40)]
    golden = {
        "max_length": CONTEXT,
        "vocab": "../clip_vocab",
        "cases": cases + bang_cases,
        "tiny_vocab": "clip-vocab-tiny",
        "tiny_cases": tiny_cases,
    }
    path = os.path.join(TESTDATA, "clip-tokenizer-golden.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    long_ones = sum(1 for c in cases if len(c["ids"]) == CONTEXT)
    print(f"{len(cases)} cases with <|endoftext|> padding ({long_ones} cut at {CONTEXT}), "
          f"{len(bang_cases)} with '!', {len(tiny_cases)} on the tiny vocabulary -> {path}")


if __name__ == "__main__":
    main()

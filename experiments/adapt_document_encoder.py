"""A FinBERT-style financial encoder trained here: the FinBERT recipe on the bundled all-MiniLM-L6-v2.

Araci (2019) made FinBERT from BERT-base in two stages; this script runs both on a model ~5x smaller:

1. further masked-language-model pretraining on the Reuters news (``title. lead``) dated inside the
   panel's train split only (first 60% of the trading dates of ``prices.parquet`` by default), so no
   text of the validation or test period is ever seen;
2. fine-tuning for 3-class sentiment on Financial PhraseBank (80/20 stratified split, fixed seed) with
   the ULMFiT / FinBERT strategies as options: slanted triangular learning rate, discriminative learning
   rates per layer, gradual unfreezing.

Reported on the 20% test split, side by side with FinBERT's published figures: accuracy and macro-F1 of
(a) a logistic-regression probe on frozen MiniLM embeddings, (b) fine-tuning without domain pretraining,
(c) fine-tuning after it. Also embeddings per second of MiniLM and of a BERT-base-sized model (randomly
initialised ``BertConfig()``: only its speed matters) on this CPU, in one run.

Writes to ``--out`` (default ``runs/adapt_document_encoder/``; under ``docs/`` only with ``--publish``
from a clean tree): ``results.json`` (with the provenance block: command, seed, commit, packages, machine,
wall time), ``results.md``, and two
model folders that ``DocumentEncoder(model=<folder>)`` loads: ``finbert-minilm/`` (domain-adapted and
sentiment fine-tuned; ``.sentiment()`` works) and ``minilm-reuters-mlm/`` (domain-adapted encoder only).

Usage::

    python experiments/adapt_document_encoder.py                    # CPU, well under an hour
    python experiments/adapt_document_encoder.py --quick --out /tmp/adapt   # seconds, for CI
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import ROOT, parse_args, run_cli

from alpha_env.provenance import check_publish, git_state, provenance, write_figure_json

__all__ = ["Args", "main", "FINBERT_PUBLISHED"]

DATA = ROOT.parent / "shared" / "data"

FINBERT_PUBLISHED = {
    "all_agree": {"accuracy": 0.97, "macro_f1": 0.95},
    "50_agree": {"accuracy": 0.86, "macro_f1": 0.84},
}
"""FinBERT's published test figures (Araci 2019, arXiv:1908.10063, Table 2): ``50_agree`` = "all data",
i.e. every PhraseBank sentence with >= 50% annotator agreement (the file used here); ``all_agree`` = the
100%-agreement subset. F1 as the paper reports it."""


@dataclass
class Args:
    """Arguments of adapt_document_encoder.py."""

    phrasebank: str = str(DATA / "phrasebank" / "sentences_50agree.csv")
    """Financial PhraseBank CSV (sentence,label)"""
    news: str = str(DATA / "us_2006_2013" / "news.parquet")
    """news file (date, title, lead) for the domain pretraining"""
    prices: str = str(DATA / "us_2006_2013" / "prices.parquet")
    """prices file whose trading dates define the train split"""
    out: str = "runs/adapt_document_encoder"
    """output folder (results.json, results.md, model folders)"""
    publish: bool = False
    """allow writing under docs/ (refused from a tree with uncommitted changes)"""
    allow_dirty: bool = False
    """with --publish, accept uncommitted changes and mark the files dirty"""
    seed: int = 0
    """seed of the split, the news sample, masking, initialisation and training"""
    threads: int = 2
    """torch intra-op threads"""
    test_share: float = 0.2
    """PhraseBank test share (stratified)"""
    phrasebank_limit: int | None = None
    """use a stratified sample of this many sentences (None = all)"""
    mlm_texts: int = 4000
    """news articles (train-split dates, seeded sample) for the MLM further pretraining"""
    mlm_eval_texts: int = 200
    """further train-split articles held out to measure the masked-token loss before and after"""
    mlm_epochs: int = 1
    """passes over the MLM texts"""
    mlm_max_length: int = 64
    """tokens per article in MLM (title and the start of the lead)"""
    mlm_lr: float = 5e-5
    """peak MLM learning rate (slanted triangular)"""
    mlm_head_warmup: float = 0.1
    """share of MLM steps that train only the (freshly initialised) MLM head"""
    epochs: int = 3
    """fine-tuning epochs"""
    batch_size: int = 32
    """sentences / articles per step"""
    lr: float = 1e-4
    """peak fine-tuning learning rate of the top group"""
    max_length: int = 64
    """tokens per PhraseBank sentence (99% are shorter than 70)"""
    stlr: bool = True
    """slanted triangular learning rate (off: constant)"""
    layer_lr_decay: float = 0.85
    """discriminative rates: each group below the top trains at this multiple of the one above (FinBERT
    0.85; 1 = off)"""
    gradual_unfreezing: bool = True
    """unfreeze one more group from the top every unfreeze_every steps, starting with the head"""
    unfreeze_every: int | None = None
    """steps between unfreezings (None = all groups unfrozen by the end of epoch 1)"""
    speed_texts: int = 64
    """news texts timed for embeddings/second"""
    speed_max_length: int = 128
    """tokens per text when timing"""
    quick: bool = False
    """CI mode: 150 sentences, 48 news articles, 1 epoch, 8 speed texts; seconds"""


def _quick(args: Args) -> Args:
    return dataclasses.replace(
        args,
        phrasebank_limit=150,
        mlm_texts=48,
        mlm_eval_texts=16,
        mlm_max_length=32,
        epochs=1,
        batch_size=16,
        max_length=32,
        speed_texts=8,
        speed_max_length=32,
    )


def _save_model(model: Any, tokenizer: Any, source: Path, folder: Path) -> Path:
    """``save_pretrained`` model + tokenizer; keep the source's sentence-transformers pooling (mean)."""
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if (source / "1_Pooling").is_dir():
        shutil.copytree(source / "1_Pooling", folder / "1_Pooling")
    return folder


def _table(results: dict[str, Any]) -> str:
    """The markdown summary of ``results``."""
    rows = [
        "| model | test accuracy | test macro-F1 | train seconds |",
        "|---|---|---|---|",
    ]
    names = {
        "probe": "(a) logistic probe on frozen MiniLM (mean pooling)",
        "finetune": "(b) MiniLM fine-tuned",
        "adapted_finetune": "(c) MiniLM + Reuters MLM, fine-tuned",
    }
    for key, name in names.items():
        if key in results:
            r = results[key]
            rows.append(f"| {name} | {r['accuracy']:.3f} | {r['macro_f1']:.3f} | {r['seconds']:.0f} |")
    for subset, r in FINBERT_PUBLISHED.items():
        rows.append(
            f"| FinBERT, published (Araci 2019), {subset.replace('_', ' ')} subset | {r['accuracy']:.2f} | "
            f"{r['macro_f1']:.2f} | - |"
        )
    lines = [f"Financial PhraseBank ({results['data']['phrasebank_file']}), "
             f"{results['data']['test']} test sentences (stratified {results['args']['test_share']:.0%}, "
             f"seed {results['args']['seed']}).", "", *rows]
    if "mlm" in results:
        m = results["mlm"]
        lines += ["", f"MLM further pretraining: {m['texts']} articles dated up to {m['last_date']} "
                      f"({m['steps']} steps, {m['seconds']:.0f} s); held-out masked-token loss "
                      f"{m['before']['loss']:.3f} → {m['after']['loss']:.3f}, accuracy "
                      f"{m['before']['accuracy']:.3f} → {m['after']['accuracy']:.3f} "
                      f"(before = pretrained body with {'a fresh' if m['fresh_head'] else 'its'} MLM head)."]
    if "speed" in results:
        s = results["speed"]
        lines += ["", "| encoder | parameters | embeddings / s |", "|---|---|---|"]
        for key in ("minilm", "bert_base"):
            lines.append(f"| {s[key]['name']} | {s[key]['parameters'] / 1e6:.1f} M | "
                         f"{s[key]['texts_per_second']:.1f} |")
        lines.append(f"\nMiniLM is {s['ratio']:.1f}x faster ({s['texts']} Reuters texts, max_length "
                     f"{s['max_length']}, batch {s['batch_size']}, {results['args']['threads']} threads).")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the recipe; returns the results written to ``results.json``."""
    args = parse_args(Args, argv)
    if args.quick:
        args = _quick(args)
    git = git_state()  # the code that runs: read now
    check_publish(Path(args.out) / "results.json", git, args.publish, args.allow_dirty)  # fail before work
    import torch
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from encoders import DocumentEncoder, bundled_model_path
    from encoders.adapt_classifier import (
        ClassifierFinetuneSettings,
        classification_scores,
        finetune_classifier,
        logistic_probe,
        predict_proba,
        sequence_classifier,
    )
    from encoders.adapt_common import (
        SENTIMENT_LABELS,
        embeddings_per_second,
        load_phrasebank,
        stratified_split,
        train_period_news,
    )
    from encoders.adapt_mlm import (
        further_pretrain_mlm,
        masked_lm,
        mlm_eval,
    )

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    source = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    results: dict[str, Any] = {"args": dataclasses.asdict(args), "finbert_published": FINBERT_PUBLISHED}

    def save(stage: str) -> None:
        results["seconds_total"] = round(time.perf_counter() - started, 1)
        results["provenance"] = provenance(argv, [args.seed], started,
                                           script="experiments/adapt_document_encoder.py", git=git)
        write_figure_json(out / "results.json", results, results["provenance"], args.publish,
                          allow_dirty=args.allow_dirty, indent=2)
        print(f"[{results['seconds_total']:.0f} s] {stage} done")

    # ---- data
    texts, labels = load_phrasebank(args.phrasebank)
    if args.phrasebank_limit is not None and args.phrasebank_limit < len(texts):
        _, keep = stratified_split(labels, args.phrasebank_limit / len(texts), seed=args.seed)
        texts, labels = [texts[i] for i in keep], labels[keep]
    train_idx, test_idx = stratified_split(labels, args.test_share, seed=args.seed)
    train_x, train_y = [texts[i] for i in train_idx], labels[train_idx]
    test_x, test_y = [texts[i] for i in test_idx], labels[test_idx]
    news, last_date = train_period_news(
        args.news, args.prices, limit=args.mlm_texts + args.mlm_eval_texts, seed=args.seed
    )
    order = np.random.default_rng(args.seed).permutation(len(news))
    mlm_eval_texts = [news[i] for i in order[: args.mlm_eval_texts]]
    mlm_texts = [news[i] for i in order[args.mlm_eval_texts :]]
    results["data"] = {
        "phrasebank_file": Path(args.phrasebank).name,
        "labels": list(SENTIMENT_LABELS),
        "train": len(train_x),
        "test": len(test_x),
        "test_class_counts": np.bincount(test_y, minlength=3).tolist(),
        "news_last_date": str(last_date),
        "mlm_texts": len(mlm_texts),
        "mlm_eval_texts": len(mlm_eval_texts),
    }
    print(f"PhraseBank: {len(train_x)} train / {len(test_x)} test; news up to {last_date}: "
          f"{len(mlm_texts)} MLM + {len(mlm_eval_texts)} held-out articles")

    # ---- speed: MiniLM vs a BERT-base-sized model, same texts, same settings
    speed_texts = news[: args.speed_texts]
    minilm = AutoModel.from_pretrained(str(source), local_files_only=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        base = BertModel(BertConfig())  # bert-base-uncased shape: 12 x 768, 110 M parameters, random
    speed: dict[str, Any] = {"texts": len(speed_texts), "max_length": args.speed_max_length,
                             "batch_size": args.batch_size}
    for key, name, model in (("minilm", "all-MiniLM-L6-v2", minilm), ("bert_base", "BERT-base size", base)):
        rate = embeddings_per_second(model, tokenizer, speed_texts, batch_size=args.batch_size,
                                     max_length=args.speed_max_length)
        speed[key] = {"name": name, "parameters": sum(p.numel() for p in model.parameters()),
                      "texts_per_second": round(rate, 2)}
    speed["ratio"] = round(speed["minilm"]["texts_per_second"] / speed["bert_base"]["texts_per_second"], 2)
    results["speed"] = speed
    del base, minilm
    save(f"speed: MiniLM {speed['minilm']['texts_per_second']:.1f}/s, "
         f"BERT-base size {speed['bert_base']['texts_per_second']:.1f}/s")

    finetune = ClassifierFinetuneSettings(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, max_length=args.max_length,
        stlr=args.stlr, layer_lr_decay=args.layer_lr_decay,
        gradual_unfreezing=args.gradual_unfreezing, unfreeze_every=args.unfreeze_every, seed=args.seed,
    )

    # ---- (a) logistic-regression probe on frozen MiniLM embeddings
    t0 = time.perf_counter()
    encoder = DocumentEncoder(None, max_length=args.max_length, batch_size=64, show_progress=not args.quick)
    train_e, test_e = encoder.encode(train_x), encoder.encode(test_x)
    predicted, c = logistic_probe(train_e, train_y, test_e, seed=args.seed)
    results["probe"] = {**classification_scores(test_y, predicted), "C": c, "pooling": encoder.pooling,
                        "seconds": round(time.perf_counter() - t0, 1)}
    del encoder
    save(f"(a) probe: accuracy {results['probe']['accuracy']:.3f}")

    def run_finetune(folder: Path, key: str, note: str) -> Any:
        model, fresh = sequence_classifier(folder, SENTIMENT_LABELS, pooler_from=source, seed=args.seed)
        report = finetune_classifier(
            model, tokenizer, train_x, train_y, finetune, show_progress=not args.quick
        )
        probs = predict_proba(model, tokenizer, test_x, max_length=args.max_length)
        results[key] = {
            **classification_scores(test_y, probs.argmax(axis=1)),
            "seconds": round(report.seconds, 1),
            "steps": report.steps,
            "fresh_parameters": fresh,
            "first_loss": round(report.train_loss[0], 4),
            "last_loss": round(float(np.mean(report.train_loss[-10:])), 4),
            "group_lrs": [float(f"{x:.3g}") for x in report.group_lrs],
            "from": note,
        }
        save(f"{key}: accuracy {results[key]['accuracy']:.3f}, macro-F1 {results[key]['macro_f1']:.3f}")
        return model, probs

    # ---- (b) fine-tuning without domain pretraining
    run_finetune(source, "finetune", "all-MiniLM-L6-v2")

    # ---- (1) MLM further pretraining on train-period news
    mlm, fresh_head = masked_lm(source, seed=args.seed)
    before = mlm_eval(mlm, tokenizer, mlm_eval_texts, max_length=args.mlm_max_length, seed=args.seed + 1)
    report = further_pretrain_mlm(
        mlm, tokenizer, mlm_texts, epochs=args.mlm_epochs, batch_size=args.batch_size, lr=args.mlm_lr,
        max_length=args.mlm_max_length, head_warmup=args.mlm_head_warmup, seed=args.seed,
        show_progress=not args.quick,
    )
    after = mlm_eval(mlm, tokenizer, mlm_eval_texts, max_length=args.mlm_max_length, seed=args.seed + 1)
    domain_folder = _save_model(mlm, tokenizer, source, out / "minilm-reuters-mlm")
    results["mlm"] = {"texts": report.texts, "tokens": report.tokens, "steps": report.steps,
                      "seconds": round(report.seconds, 1), "last_date": str(last_date),
                      "fresh_head": bool(fresh_head), "fresh_parameters": fresh_head,
                      "before": before, "after": after, "folder": str(domain_folder),
                      "first_loss": round(report.train_loss[0], 4),
                      "last_loss": round(float(np.mean(report.train_loss[-10:])), 4)}
    del mlm
    save(f"MLM: held-out loss {before['loss']:.3f} → {after['loss']:.3f}")

    # ---- (c) fine-tuning after domain pretraining; saved as the project's FinBERT-style model
    model, probs = run_finetune(domain_folder, "adapted_finetune", "minilm-reuters-mlm")
    final = _save_model(model, tokenizer, source, out / "finbert-minilm")
    check = DocumentEncoder(final, max_length=args.max_length)
    loaded = check.sentiment(test_x[:8])
    results["model_folder"] = {"path": str(final), "labels": list(check.labels), "dim": check.dim,
                               "reload_max_abs_diff": float(np.abs(loaded - probs[:8]).max())}
    save("(c) and the model folders")
    (out / "results.md").write_text(_table(results))
    print(_table(results))
    return results


if __name__ == "__main__":
    sys.exit(run_cli(main, "adapt_document_encoder", sys.argv[1:]))

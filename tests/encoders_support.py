"""Shared helpers of the encoders tests: a stand-in codebook and a tiny BERT saved to a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["FakeCodebook", "TINY_WORDS", "save_tiny_bert"]


@dataclass
class FakeCodebook:
    """The part of ``alpha_env.grammar.Codebook`` the models use: specials, version and size."""

    size: int = 24
    version: str = "test-v1"
    PAD: int = 0
    BOS: int = 1
    END: int = 2

    def __len__(self) -> int:
        return self.size


TINY_WORDS = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "stock",
    "stocks",
    "market",
    "fell",
    "rose",
    "sharply",
    "profit",
    "loss",
    "shares",
    "bank",
    "earnings",
    "beat",
    "missed",
    "estimates",
    "a",
    "of",
    "in",
    "to",
    "and",
    "##s",
    "##ed",
    "up",
    "down",
    "cut",
    "jobs",
    "oil",
    "price",
    "prices",
    "record",
    "high",
    "low",
    ".",
    ",",
]


def save_tiny_bert(folder: Path, *, classifier: bool = False, seed: int = 0) -> Path:
    """Save a 2-layer, 32-wide BERT (with a 3-class head when ``classifier``) and its WordPiece tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel, BertTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = BertTokenizer(vocab={w: i for i, w in enumerate(TINY_WORDS)})
    tokenizer.save_pretrained(folder)
    labels = {0: "positive", 1: "negative", 2: "neutral"}
    config = BertConfig(
        vocab_size=len(TINY_WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BertForSequenceClassification(config) if classifier else BertModel(config)
    model.save_pretrained(folder)
    return folder

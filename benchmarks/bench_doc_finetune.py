"""Cost of end-to-end stage 2 (``--finetune-doc-encoder``): PPO steps per second with the precomputed
(frozen) document vectors vs with the policy embedding each news window through the bundled MiniLM whose
top layer groups train.

Both runs: the synthetic market with news (30 stocks x 300 days), document-conditioned episodes (5 days of
news, 20-day Sharpe), the stage-1 actor (``artifacts/alpha_decoder.pt`` or ``--checkpoint``; else the same
architecture freshly initialized), 2 in-process environments, 64-step rollouts, one torch thread; the
document vectors of the frozen run are the same MiniLM's (``DocumentEncoder``, in-memory cache).

Usage::

    python benchmarks/bench_doc_finetune.py [--timesteps 512] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # see experiments/_common.py
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["measure", "main"]


def measure(timesteps: int, checkpoint: Path | None, finetune: bool) -> float:
    """Environment steps per second of one PPO run (``finetune``: with the trainable text encoder)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    from agents.builders import build_agent
    from agents.settings import FineTuneSettings
    from alpha_env.data import synthetic_market
    from alpha_env.env import AlphaStackEnv, embed_document_store
    from alpha_env.grammar import Codebook
    from encoders import AlphaDecoderConfig, DocumentEncoder, load_checkpoint
    from encoders.doc_finetune import TrainableTextEncoder, with_document_key
    from encoders.settings import DocFinetuneSettings

    panel = synthetic_market(seed=0, n_stocks=30, n_days=300)
    table = embed_document_store(panel.documents, embed=DocumentEncoder().encode)
    codebook = Codebook.default()
    if checkpoint is not None and checkpoint.is_file():
        config = load_checkpoint(checkpoint, codebook, kind="alpha_decoder").model.config.to_dict()
    else:
        checkpoint = None
        config = AlphaDecoderConfig.from_codebook(codebook, max_len=32, d_model=64, num_layers=2, num_heads=4,
                                                  ff_size=128, doc_dim=table.dim).to_dict()

    def env_fn():
        return AlphaStackEnv(panel, document_embeddings=table, max_len=15, doc_days=5, cache_bytes=0)

    vec = DummyVecEnv([with_document_key(env_fn) if finetune else env_fn] * 2)
    model = build_agent("ppo", vec, decoder_config=config, init_checkpoint=checkpoint,
                        settings=FineTuneSettings(n_steps=64, batch_size=64, n_epochs=2, target_kl=None))
    if finetune:
        encoder = TrainableTextEncoder.for_panel(DocFinetuneSettings(), panel, doc_days=5)
        model.policy.attach_text_encoder(encoder)
    started = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    return model.num_timesteps / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    """Print steps/s without and with document-encoder fine-tuning."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timesteps", type=int, default=512)
    parser.add_argument("--checkpoint", type=Path, default=ROOT / "artifacts" / "alpha_decoder.pt")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    frozen = measure(args.timesteps, args.checkpoint, finetune=False)
    tuned = measure(args.timesteps, args.checkpoint, finetune=True)
    print(f"PPO steps/s, frozen document vectors: {frozen:.1f}")
    print(f"PPO steps/s, --finetune-doc-encoder (MiniLM, top 2 groups): {tuned:.1f} "
          f"({frozen / tuned:.1f}x slower)")


if __name__ == "__main__":
    main(sys.argv[1:])

"""The main job: PPO fine-tunes the pretrained AlphaDecoder to write alphas with a high backtest Sharpe.

With no arguments it runs offline on the embedded synthetic market (planted signals of known strength),
loads the stage-1 actor from ``artifacts/alpha_decoder.pt`` (pretraining one first when it is missing),
trains PPO for a few minutes, stores every finished alpha in ``runs/<run>/alphas.db`` and prints the top
alphas with their train and valid metrics, how they compare with the planted signals, and where the
TensorBoard logs and the database are.

Usage::

    python experiments/train_ppo.py                                   # defaults (minutes)
    python experiments/train_ppo.py --total-timesteps 100000 --algo maskable_ppo --seed 1
    python experiments/train_ppo.py --actor-init random               # ablation: no pretraining
    python experiments/train_ppo.py --data ../shared/data/sp500_2013_2018 --neutralization sector
    python experiments/train_ppo.py --reward ic --decay 4 --truncation 0.05 --correlation-penalty 0.5
    python experiments/train_ppo.py --doc-mode                        # news-conditioned episodes
    python experiments/train_ppo.py --resume runs/<run>               # continue a run
    python experiments/train_ppo.py --ray auto --workers 4            # environments in Ray actors
    tensorboard --logdir runs
"""

from __future__ import annotations

import sys
from typing import Any

from _common import ROOT, parse_args, run_cli

from agents.job import DEFAULT_CHECKPOINT, PPOJobSettings, run_ppo_job

__all__ = ["main", "cli"]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Parse the options (every field of :class:`agents.job.PPOJobSettings` and of the settings it nests)
    and run the job; returns the summary written to ``runs/<run>/summary.json``."""
    args = parse_args(PPOJobSettings, argv, description=__doc__.splitlines()[0])
    if args.checkpoint == DEFAULT_CHECKPOINT:  # the default lives in the checkout, wherever we run from
        args.checkpoint = str(ROOT / DEFAULT_CHECKPOINT)
    return run_ppo_job(args, root=ROOT)


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry: user errors (bad data, settings, checkpoints) print one line and exit 2."""
    return run_cli(main, "train_ppo", argv)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))

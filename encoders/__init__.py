"""Neural models of alpha-env: document encoder, alpha encoder, fusion, alpha decoder, pretraining.

This package (with ``agents``) is the only one that imports torch and transformers; ``alpha_env`` stays
light. See ``docs/encoders.md``.
"""

try:  # the torch packages are an optional extra; say which one instead of a bare ModuleNotFoundError
    import torch  # noqa: F401
except ImportError:
    raise ImportError("encoders needs the optional 'rl' extra: pip install 'alpha-env[rl]'") from None

from encoders.alpha_encoder import AlphaEncoder, AlphaEncoderConfig, AlphaEncoding, add_bos
from encoders.cache import EmbeddingCache, text_key
from encoders.checkpoint import MODEL_KINDS, Checkpoint, load_checkpoint, save_checkpoint
from encoders.decoder import AlphaDecoder, AlphaDecoderConfig, DecoderMemory
from encoders.document import DocumentEncoder
from encoders.errors import CheckpointError, CodebookMismatchError, ModelNotAvailableError
from encoders.finetune import (
    ScaledAdam,
    SlantedTriangular,
    bert_layer_groups,
    constant_schedule,
    discriminative_groups,
    discriminative_scales,
    slanted_triangular,
    unfreeze_top,
    unfrozen_groups,
)
from encoders.fusion import FUSION_KINDS, Fusion, masked_mean
from encoders.observation import ENCODED_POOLINGS, EncodedAlphaObservation
from encoders.pooling import POOLINGS, pool
from encoders.pretrain import (
    PretrainHistory,
    mask_tokens,
    masked_token_accuracy,
    next_token_accuracy,
    pad_sequences,
    pretrain_alpha_encoder,
    pretrain_decoder,
    teacher_forcing,
)
from encoders.resolve import BUNDLED_MODEL_NAME, ResolvedModel, bundled_model_path, resolve_model
from encoders.tree_encoder import AlphaTreeEncoder, AlphaTreeEncoderConfig, codebook_arities, tree_structure

__all__ = [
    "unfrozen_groups",
    "discriminative_scales",
    "constant_schedule",
    "SlantedTriangular",
    "ScaledAdam",
    "AlphaDecoder",
    "AlphaDecoderConfig",
    "AlphaEncoder",
    "AlphaEncoderConfig",
    "AlphaEncoding",
    "AlphaTreeEncoder",
    "AlphaTreeEncoderConfig",
    "codebook_arities",
    "tree_structure",
    "BUNDLED_MODEL_NAME",
    "Checkpoint",
    "CheckpointError",
    "CodebookMismatchError",
    "DecoderMemory",
    "DocumentEncoder",
    "EmbeddingCache",
    "ENCODED_POOLINGS",
    "EncodedAlphaObservation",
    "FUSION_KINDS",
    "Fusion",
    "MODEL_KINDS",
    "ModelNotAvailableError",
    "POOLINGS",
    "PretrainHistory",
    "ResolvedModel",
    "add_bos",
    "bert_layer_groups",
    "bundled_model_path",
    "discriminative_groups",
    "load_checkpoint",
    "mask_tokens",
    "masked_mean",
    "masked_token_accuracy",
    "next_token_accuracy",
    "pad_sequences",
    "pool",
    "pretrain_alpha_encoder",
    "pretrain_decoder",
    "resolve_model",
    "save_checkpoint",
    "slanted_triangular",
    "teacher_forcing",
    "text_key",
    "unfreeze_top",
]

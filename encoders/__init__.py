"""Neural models of alpha-env: document encoder, alpha encoder, fusion, alpha decoder, pretraining.

This package (with ``agents``) is the only one that imports torch and transformers; ``alpha_env`` stays
light. Its public names load on first use (:func:`alpha_env.lazy.lazy_exports`), so :mod:`encoders.settings`
imports no torch. See ``docs/encoders.md``.
"""

from alpha_env.lazy import lazy_exports, require

require("encoders", "torch", extra="rl")  # say which extra is missing instead of a bare ModuleNotFoundError

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "alpha_encoder": ("AlphaEncoder", "AlphaEncoderConfig", "AlphaEncoding", "add_bos"),
    "cache": ("EmbeddingCache", "text_key"),
    "checkpoint": ("MODEL_KINDS", "Checkpoint", "load_checkpoint", "save_checkpoint"),
    "decoder": ("AlphaDecoder", "AlphaDecoderConfig", "DecoderMemory", "bit_rows", "prefix_chains"),
    "document": ("DocumentEncoder",),
    "errors": ("CheckpointError", "CodebookMismatchError", "ModelNotAvailableError"),
    "finetune": ("ScaledAdam", "SlantedTriangular", "bert_layer_groups", "constant_schedule",
                 "discriminative_groups", "discriminative_scales", "slanted_triangular", "unfreeze_top",
                 "unfrozen_groups"),
    "fusion": ("Fusion", "masked_mean"),
    "observation": ("ENCODED_POOLINGS", "EncodedAlphaObservation"),
    "pooling": ("POOLINGS", "pool"),
    "pretrain": ("PretrainHistory", "mask_tokens", "masked_token_accuracy", "next_token_accuracy",
                 "pad_sequences", "pretrain_alpha_encoder", "pretrain_decoder", "teacher_forcing"),
    "resolve": ("BUNDLED_MODEL_NAME", "ResolvedModel", "bundled_model_path", "resolve_model"),
    "settings": ("FUSION_KINDS", "DocFinetuneSettings"),
    "tree_encoder": ("AlphaTreeEncoder", "AlphaTreeEncoderConfig", "codebook_arities", "tree_structure"),
})

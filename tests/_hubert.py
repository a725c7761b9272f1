"""A tiny randomly initialised Hugging Face HuBERT folder for tests of the units stage.

HuBERT's own feature-extractor kernels and strides (so frame counts are HuBERT's), with a
narrow encoder: one layer, 256 wide (RVC v1's unit width), a few conv channels.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def tiny_hubert_dir(root: Path, *, hidden: int = 256, layers: int = 1, seed: int = 0) -> Path:
    """Write the model with ``save_pretrained`` under ``root / "hubert"`` (once) and return the folder."""
    pytest.importorskip("torch")
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("transformers is not installed (pip install 'svcprep[hubert]')")
    from svcprep.encoders import _import_backend  # transformers without a torchaudio that cannot load

    torch, transformers = _import_backend("tests")
    folder = root / "hubert"
    if (folder / "config.json").is_file():
        return folder
    torch.manual_seed(seed)
    cfg = transformers.HubertConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    transformers.HubertModel(cfg).eval().save_pretrained(folder)
    return folder

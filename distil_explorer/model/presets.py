"""Built-in DistilBERT presets: pure data, no code.

Each entry holds what is known without a network: the architecture config, the
parameter count keras-hub reports for it, a description, and where its weights
live (the Kaggle handle keras-hub 0.32 publishes, and the original Hugging Face
checkpoint as a fallback).
"""

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
}

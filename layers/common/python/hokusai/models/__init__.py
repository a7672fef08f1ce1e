"""Model serving: registry, artifact loader chain (memory, EFS, S3, Hub), scorer.

Importing this package is light: scikit-learn, numpy, skops and huggingface_hub are imported only
when a model is actually loaded (``hokusai.models.scorer``, ``hokusai.models.hub``).
"""

"""Hokusai on Lambda: the shared package every function imports (pure Python, small).

Heavy dependencies (scikit-learn, numpy, huggingface_hub) are imported only by ``hokusai.models``
when a model is loaded; nothing here imports them at package import time.
"""

__version__ = "1.0.0"

"""The Optuna storage adapter: sessions streamed into an Optuna RDB storage as they run.

``mirror`` holds the ``OptunaStorageMirror`` (what optuna-dashboard reads while a
session runs), ``check_url`` a storage URL checked before any worker starts.
"""

from tuneop.adapters.optuna_storage.mirror import (
    BACKOFF_MAX,
    TRIAL_ATTR,
    OptunaStorageMirror,
    rdb_storage,
)
from tuneop.adapters.optuna_storage.url import url_problem

__all__ = ["BACKOFF_MAX", "TRIAL_ATTR", "OptunaStorageMirror", "rdb_storage", "url_problem"]

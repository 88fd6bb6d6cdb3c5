"""structseq: structured sequence models with a C++ core.

Every function takes and returns numpy arrays; float32 and float64 are accepted wherever a
function is numeric. Errors from the core raise ValueError with a message naming the argument,
the value and what was expected.
"""

from ._core import (
    __version__,
    build_info,
    get_num_threads,
    load_npy,
    load_safetensors,
    random_normal,
    random_uniform,
    safetensors_metadata,
    save_npy,
    save_safetensors,
    set_num_threads,
)

__all__ = [
    "__version__",
    "build_info",
    "get_num_threads",
    "load_npy",
    "load_safetensors",
    "random_normal",
    "random_uniform",
    "safetensors_metadata",
    "save_npy",
    "save_safetensors",
    "set_num_threads",
]

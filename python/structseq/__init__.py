"""structseq: structured sequence models with a C++ core.

Every function takes and returns numpy arrays; float32 and float64 are accepted wherever a
function is numeric. Errors from the core raise ValueError with a message naming the argument,
the value and what was expected.
"""

from ._core import (
    __version__,
    batched_randomized_svd,
    build_info,
    create_semiseparable_from_dense,
    full_svd,
    get_num_threads,
    load_npy,
    load_safetensors,
    random_normal,
    random_uniform,
    ridge_shrinkage,
    ridge_shrinkage_lambda_range,
    safetensors_metadata,
    save_npy,
    save_safetensors,
    SemiseparableMatrix,
    set_num_threads,
    sherman_morrison_update,
    tridiagonal_matvec,
    tridiagonal_resolvent_diagonal,
    tridiagonal_resolvent_entries,
    tridiagonal_solve,
    woodbury_inverse,
)

__all__ = [
    "__version__",
    "batched_randomized_svd",
    "build_info",
    "create_semiseparable_from_dense",
    "full_svd",
    "get_num_threads",
    "load_npy",
    "load_safetensors",
    "random_normal",
    "random_uniform",
    "ridge_shrinkage",
    "ridge_shrinkage_lambda_range",
    "safetensors_metadata",
    "save_npy",
    "save_safetensors",
    "SemiseparableMatrix",
    "set_num_threads",
    "sherman_morrison_update",
    "tridiagonal_matvec",
    "tridiagonal_resolvent_diagonal",
    "tridiagonal_resolvent_entries",
    "tridiagonal_solve",
    "woodbury_inverse",
]

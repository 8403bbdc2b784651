# Index types of scipy's sparse structures, shared by the compiled loops.
from libc.stdint cimport int32_t, int64_t

ctypedef fused index_t:
    int32_t
    int64_t

# Index types of scipy's sparse structures, shared by the compiled loops.
from libc.stdint cimport int32_t, int64_t

ctypedef fused index_t:
    int32_t
    int64_t

# The index type of the rows of a csr input, next to the active sets' own.
ctypedef fused row_index_t:
    int32_t
    int64_t

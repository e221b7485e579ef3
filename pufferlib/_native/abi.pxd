# The C ABI of pufferlib (csrc/), declared once and cimported wherever it is used.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t


cdef extern from "puffer_env.h" nogil:
    enum:
        PUFFER_ABI_VERSION
        PUFFER_MAX_DIMS
        PUFFER_MAX_ACT_DIMS
        PUFFER_MAX_PARAMS
        PUFFER_MAX_STATS
        PUFFER_MAX_BOUNDS
        PUFFER_FLOAT32
        PUFFER_UINT8
        PUFFER_DISCRETE
        PUFFER_CONTINUOUS

    ctypedef struct PufferParam:
        const char* name
        double default_value
        double min
        double max
        int integer
        const char* doc

    ctypedef struct PufferSpec:
        int num_agents
        int obs_dtype
        int obs_ndim
        int obs_shape[PUFFER_MAX_DIMS]
        float obs_low
        float obs_high
        float obs_low_vec[PUFFER_MAX_BOUNDS]
        float obs_high_vec[PUFFER_MAX_BOUNDS]
        int obs_bounds_per_element
        int act_kind
        int act_dims
        int act_n[PUFFER_MAX_ACT_DIMS]
        float act_low
        float act_high
        int render_width
        int render_height
        int act_mask
        int agent_episodes

    ctypedef struct PufferLog:
        double episodes
        double episode_return
        double episode_length
        double env_episodes
        double stats[PUFFER_MAX_STATS]

    ctypedef struct PufferBuffers:
        void* observations
        const void* actions
        float* rewards
        uint8_t* terminals
        uint8_t* truncations
        uint8_t* masks
        void* final_observations
        float* episode_return
        int32_t* episode_length
        size_t obs_row_bytes
        int act_dims
        int num_agents
        uint8_t* action_masks
        int mask_size
        int agent_episodes

    ctypedef struct PufferEnvDef:
        int abi_version
        const char* name
        const char* doc
        const PufferParam* params
        int num_params
        const char* const* stat_names
        int num_stats
        size_t env_size
        int (*describe)(const double* params, PufferSpec* spec, char* err, int errlen) noexcept nogil
        void (*init)(void* envs, int start, int end, const double* params, uint64_t seed) noexcept nogil
        void (*reset)(void* envs, int start, int end, const PufferBuffers* b) noexcept nogil
        void (*step)(void* envs, int start, int end, const PufferBuffers* b, PufferLog* log) noexcept nogil
        void (*close)(void* envs, int start, int end) noexcept nogil
        int (*render)(void* env, uint8_t* rgb, int width, int height) noexcept nogil


cdef extern from "puffer_checks.h" nogil:
    int64_t puffer_check_discrete(const int32_t* a, int64_t rows, int dims, const int* n)
    int64_t puffer_check_finite(const float* a, int64_t count)


cdef extern from "puffer_worker.h" nogil:
    ctypedef void (*PufferJob)(void* arg) noexcept nogil

    ctypedef struct PufferWorker:
        int started

    int puffer_worker_start(PufferWorker* w)
    void puffer_worker_submit(PufferWorker* w, PufferJob job, void* arg)
    void puffer_worker_wait(PufferWorker* w)
    void puffer_worker_stop(PufferWorker* w)


cdef extern from "puffer_pool.h" nogil:
    ctypedef void (*PufferTask)(void* arg, int thread, int num_threads) noexcept nogil
    ctypedef void (*PufferBlockTask)(void* arg, int block) noexcept nogil

    ctypedef struct PufferPool:
        int started

    void puffer_pool_range(int n, int thread, int num_threads, int* begin, int* end)
    int puffer_pool_start(PufferPool* p, int num_threads)
    void puffer_pool_run(PufferPool* p, PufferTask task, void* arg)
    void puffer_pool_run_blocks(PufferPool* p, PufferBlockTask task, void* arg, int num_blocks)
    void puffer_pool_stop(PufferPool* p)


cdef extern from "envs/builtin.h" nogil:
    const PufferEnvDef* const puffer_builtin_envs[]
    const int puffer_num_builtin_envs

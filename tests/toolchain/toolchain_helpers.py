"""What the toolchain tests share: `puffer` in a subprocess, and a tiny C environment to break."""
import os
import shlex
import shutil
import subprocess
import sys

import pytest

needs_compiler = pytest.mark.skipif(
    shutil.which((shlex.split(os.environ.get("CC") or "cc") or ["cc"])[0]) is None,
    reason="no C compiler (cc, or $CC) to build user environments with")


def puffer(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "pufferlib.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=env)


# A minimal environment whose pieces the tests replace to break it in one way at a time.
TINY = """
#include "puffer_env.h"
{extra}
typedef struct {{ int32_t tick; PufferRng rng; }} Tiny;
static const PufferParam tiny_params[] = {{{{"horizon", {horizon}, 1, 100, 1, "steps per episode"}}}};
static const char* const tiny_stats[] = {{"score"}};
static int tiny_describe(const double* p, PufferSpec* s, char* err, int errlen) {{
    (void)p; (void)err; (void)errlen;
    s->num_agents = 1;
    puffer_obs_box(s, PUFFER_FLOAT32, 1, 0.0f, 1.0f);
    puffer_act_discrete(s, 2);
    {spaces}
    return 0;
}}
static void tiny_init(Tiny* e, const double* p, PufferRng rng, PufferRng shared) {{
    (void)p; (void)shared; e->rng = rng;
}}
static void tiny_reset(Tiny* e, PufferRows r) {{
    e->tick = 0;
    ((float*)r.obs)[0] = puffer_rand_float(&e->rng);
}}
static void tiny_step(Tiny* e, PufferRows r) {{
    e->tick += 1;
    ((float*)r.obs)[0] = {observation};
    r.rew[0] = 1.0f;
    r.term[0] = e->tick >= 10;
    r.trunc[0] = 0;
    if (r.term[0]) r.log->stats[0] += 1.0;
}}
PUFFER_DEFINE_ENV(Tiny, tiny, "a tiny env", tiny_params, tiny_stats)
{export}
"""


def tiny(folder, name="tiny.c", extra="", spaces="", observation="puffer_rand_float(&e->rng)",
         export="PUFFER_EXPORT(tiny)", horizon=10):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write(TINY.format(extra=extra, spaces=spaces, observation=observation, export=export,
                            horizon=horizon))
    return path

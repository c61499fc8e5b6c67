/* lc-cluster stand-in for NVIDIA's pyxis (test mirrors only). It is a real SPANK plugin, built against this machine's
 * Slurm headers, so slurmd and srun load it, or refuse it for a Slurm of another release, exactly as they treat pyxis.
 * It adds pyxis' --container-image option and does nothing with it. */
#include <stddef.h>
#include <slurm/spank.h>

SPANK_PLUGIN(pyxis, 1);

static int container_image(int val, const char *arg, int remote)
{
    (void)val;
    (void)arg;
    (void)remote;
    return 0;
}

/* Slurm loads a SPANK plugin only if it exports at least one of the slurm_spank_* entry points. */
int slurm_spank_init(spank_t sp, int ac, char **av)
{
    (void)sp;
    (void)ac;
    (void)av;
    return ESPANK_SUCCESS;
}

struct spank_option spank_options[] = {
    {"container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|PATH", "[pyxis stand-in] image to run the job in", 1, 0,
     container_image},
    SPANK_OPTIONS_TABLE_END,
};

/* SPDX-License-Identifier: ISC */
#include <sys/prctl.h>
#include <sys/resource.h>

#include "filterd.h"

int main(int argc, char **argv) {
        /* It holds the SAs' keys: no core file, no attaching. */
        setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
        prctl(PR_SET_DUMPABLE, 0);

        BhService svc;
        bh_service_init(&svc, BH_SERVICE_FILTERD, argc, argv);
        Filterd *f = filterd_new(&svc);
        int r = bh_service_run(&svc);
        filterd_free(f);
        bh_service_done(&svc);
        return r;
}

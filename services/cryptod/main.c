/* SPDX-License-Identifier: ISC */
#include <sys/prctl.h>
#include <sys/resource.h>

#include "cryptod.h"

int main(int argc, char **argv) {
        /* The key holder writes no core and cannot be attached to by its
         * own user: keys never reach a core file or a debugger. */
        setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
        prctl(PR_SET_DUMPABLE, 0);

        BhService svc;
        bh_service_init(&svc, BH_SERVICE_CRYPTOD, argc, argv);
        Cryptod *c = cryptod_new(&svc);
        int r = bh_service_run(&svc);
        cryptod_free(c);
        bh_service_done(&svc);
        return r;
}

/* SPDX-License-Identifier: ISC */
#include "tmd.h"

int main(int argc, char **argv) {
        BhService svc;
        bh_service_init(&svc, BH_SERVICE_TMD, argc, argv);
        Tmd *tmd = tmd_new(&svc);
        int r = bh_service_run(&svc);
        tmd_free(tmd);
        bh_service_done(&svc);
        return r;
}

/* SPDX-License-Identifier: ISC */
#include "statd.h"

int main(int argc, char **argv) {
        BhService svc;
        bh_service_init(&svc, BH_SERVICE_STATD, argc, argv);
        Statd *s = statd_new(&svc);
        int r = bh_service_run(&svc);
        statd_free(s);
        bh_service_done(&svc);
        return r;
}

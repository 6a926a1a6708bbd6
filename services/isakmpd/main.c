/* SPDX-License-Identifier: ISC */
#include "isakmpd.h"

int main(int argc, char **argv) {
        BhService svc;
        bh_service_init(&svc, BH_SERVICE_ISAKMPD, argc, argv);
        Isakmpd *isakmpd = isakmpd_new(&svc);
        int r = bh_service_run(&svc);
        isakmpd_free(isakmpd);
        bh_service_done(&svc);
        return r;
}

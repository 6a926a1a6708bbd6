/* SPDX-License-Identifier: ISC */
#include "filterd.h"

int main(int argc, char **argv) {
        BhService svc;
        bh_service_init(&svc, BH_SERVICE_FILTERD, argc, argv);
        Filterd *f = filterd_new(&svc);
        int r = bh_service_run(&svc);
        filterd_free(f);
        bh_service_done(&svc);
        return r;
}

/* SPDX-License-Identifier: ISC */
#include <glib-unix.h>

#include "logd.h"

static gboolean on_hangup(gpointer userdata) {
        logd_reload(userdata);
        return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
        BhService svc;
        bh_service_init(&svc, BH_SERVICE_LOGD, argc, argv);
        Logd *logd = logd_new(&svc);
        g_unix_signal_add(SIGHUP, on_hangup, logd);
        int r = bh_service_run(&svc);
        logd_free(logd);
        bh_service_done(&svc);
        return r;
}

/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* Log routing: syslog (stderr when there is none) for every service, and the
 * isakmpd log files by level as isakmpd.conf(5) names them. */
typedef struct Logd Logd;

Logd *logd_new(BhService *svc);
void logd_free(Logd *logd);
/* Reads isakmpd.conf again and reopens the files (also on SIGHUP). */
void logd_reload(Logd *logd);

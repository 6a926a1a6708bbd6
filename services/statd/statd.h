/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* Counter aggregation for ipsecstat, kept across restarts of the services. */
typedef struct Statd Statd;

Statd *statd_new(BhService *svc);
void statd_free(Statd *statd);

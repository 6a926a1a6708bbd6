/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* The IKE protocol engine. It holds no key, only handles into cryptod. */
typedef struct Isakmpd Isakmpd;

Isakmpd *isakmpd_new(BhService *svc);
void isakmpd_free(Isakmpd *isakmpd);

/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* The tunnel manager: tunnel definitions (no secrets) and their states. */
typedef struct Tmd Tmd;

Tmd *tmd_new(BhService *svc);
void tmd_free(Tmd *tmd);

/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* The data path: SAD, SPD, the TUN device and the ESP sockets. */
typedef struct Filterd Filterd;

Filterd *filterd_new(BhService *svc);
void filterd_free(Filterd *filterd);

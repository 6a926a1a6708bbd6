/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* The key holder: it answers with handles, never with keys. */
typedef struct Cryptod Cryptod;

Cryptod *cryptod_new(BhService *svc);
void cryptod_free(Cryptod *cryptod);

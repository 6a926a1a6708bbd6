/* SPDX-License-Identifier: ISC */
#pragma once

/* What the binary targets and the seed generator (gen-seeds.c) must agree
 * on: the SAs of fuzz-esp and fuzz-ah, and who sends in fuzz-dbus-dispatch.
 * A seed made with other keys would never pass the ICV. */

#include <stddef.h>
#include <stdint.h>

#include "secmem.h"
#include "transform.h"

/* ---- fuzz-esp */

#define FUZZ_ESP_SPI 0x00001001u

enum {
        FUZZ_ESP_ESN = 0x01,
        FUZZ_ESP_TRANSPORT = 0x02,
        FUZZ_ESP_FORGE = 0x04,
        FUZZ_ESP_BARE = 0x08,
        FUZZ_ESP_WINDOW = 0x10,
        FUZZ_ESP_NO_REPLAY = 0x20,
};

typedef struct FuzzEspTransform {
        const char *name;
        unsigned enc, bits, integ;
} FuzzEspTransform;

static const FuzzEspTransform fuzz_esp_transforms[] = {
        { "aes128gcm16", BH_ENCR_AES_GCM_16, 128, BH_AUTH_NONE },
        { "aes256gcm16", BH_ENCR_AES_GCM_16, 256, BH_AUTH_NONE },
        { "chacha20poly1305", BH_ENCR_CHACHA20_POLY1305, 256, BH_AUTH_NONE },
        { "aes128-sha256", BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_SHA2_256_128 },
        { "aes256-sha512", BH_ENCR_AES_CBC, 256, BH_AUTH_HMAC_SHA2_512_256 },
        { "aes192-sha384", BH_ENCR_AES_CBC, 192, BH_AUTH_HMAC_SHA2_384_192 },
        { "null-sha256", BH_ENCR_NULL, 0, BH_AUTH_HMAC_SHA2_256_128 },
        { "3des-sha1", BH_ENCR_3DES, 192, BH_AUTH_HMAC_SHA1_96 },
        { "aes128-md5", BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_MD5_96 },
        /* Encryption only (legacy): garbage decrypts to garbage that the
         * padding, next header and inner checks must survive. */
        { "aes128-noauth", BH_ENCR_AES_CBC, 128, BH_AUTH_NONE },
};
#define FUZZ_N_ESP_TRANSFORMS (sizeof fuzz_esp_transforms / sizeof fuzz_esp_transforms[0])

/* ---- fuzz-ah */

#define FUZZ_AH_SPI 0x00000601u

enum {
        FUZZ_AH_ESN = 0x01,
        FUZZ_AH_TRANSPORT = 0x02,
        FUZZ_AH_ROUND_TRIP = 0x04,
        FUZZ_AH_WINDOW = 0x08,
        FUZZ_AH_OUTER6 = 0x10,
        FUZZ_AH_MUTATE = 0x20,
};

typedef struct FuzzAhIntegrity {
        const char *name;
        unsigned integ;
} FuzzAhIntegrity;

static const FuzzAhIntegrity fuzz_ah_integs[] = {
        { "sha256", BH_AUTH_HMAC_SHA2_256_128 }, { "sha384", BH_AUTH_HMAC_SHA2_384_192 },
        { "sha512", BH_AUTH_HMAC_SHA2_512_256 }, { "sha1", BH_AUTH_HMAC_SHA1_96 },
        { "md5", BH_AUTH_HMAC_MD5_96 },
};
#define FUZZ_N_AH_INTEGS (sizeof fuzz_ah_integs / sizeof fuzz_ah_integs[0])

/* The key of a transform: bytes seed, seed + 1, ... (ESP: seed 0x40 + index,
 * AH: 0x60 + index). NULL if the combination is refused. */
static inline BhTransform *fuzz_transform(unsigned enc, unsigned bits, unsigned integ, uint8_t seed) {
        size_t len;
        BhTransform *t = NULL;
        if (bh_transform_check(enc, bits, integ, &len) < 0)
                return NULL;
        BhSecret *key = bh_secret_new(len);
        if (!key)
                return NULL;
        for (size_t k = 0; k < len; k++)
                key->data[k] = (uint8_t) (seed + k);
        int r = bh_transform_new(enc, bits, integ, key, &t);
        bh_secret_free(key);
        return r < 0 ? NULL : t;
}

static inline BhTransform *fuzz_esp_transform(size_t i) {
        const FuzzEspTransform *x = &fuzz_esp_transforms[i];
        return fuzz_transform(x->enc, x->bits, x->integ, (uint8_t) (0x40 + i));
}

static inline BhTransform *fuzz_ah_transform(size_t i) {
        return fuzz_transform(BH_ENCR_NONE, 0, fuzz_ah_integs[i].integ, (uint8_t) (0x60 + i));
}

/* ---- fuzz-dbus-dispatch: the first byte of an input, modulo
 * FUZZ_DBUS_CHANNELS, says who sends. */

enum {
        FUZZ_DBUS_ROOT = 0,        /* a bus client with uid 0 */
        FUZZ_DBUS_USER = 1,        /* a bus client with uid 1000 */
        FUZZ_DBUS_NO_CREDS = 2,    /* a bus client the bus gives no credentials for */
        FUZZ_DBUS_SERVICE = 3,     /* + BhServiceId: the owner of that suite name */
        FUZZ_DBUS_PEER_BOUND = 3 + 7,
        FUZZ_DBUS_PEER_UNBOUND = 3 + 7 + 1,
        FUZZ_DBUS_CHANNELS = 3 + 7 + 2,
};

/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <string.h>

#include "ikev2.h"

/* One row per named value; the tables are short enough that a linear search
 * costs nothing next to the log line that asks for the name. */
typedef struct Name {
        unsigned value;
        const char *name;
} Name;

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static const char *lookup(const Name *t, size_t n, unsigned value) {
        for (size_t i = 0; i < n; i++)
                if (t[i].value == value)
                        return t[i].name;
        return "UNKNOWN";
}

#define LOOKUP(table, value) lookup(table, N_ELEMENTS(table), value)

static const Name exchanges[] = {
        { IKE_EXCH_IKE_SA_INIT, "IKE_SA_INIT" },
        { IKE_EXCH_IKE_AUTH, "IKE_AUTH" },
        { IKE_EXCH_CREATE_CHILD_SA, "CREATE_CHILD_SA" },
        { IKE_EXCH_INFORMATIONAL, "INFORMATIONAL" },
        { IKE_EXCH_IKE_SESSION_RESUME, "IKE_SESSION_RESUME" },
        { IKE_EXCH_IKE_INTERMEDIATE, "IKE_INTERMEDIATE" },
        { IKE_EXCH_IKE_FOLLOWUP_KE, "IKE_FOLLOWUP_KE" },
};

const char *ike_exchange_name(unsigned exchange) {
        return LOOKUP(exchanges, exchange);
}

const char *ike_flags_string(unsigned flags, char buf[static IKE_FLAGS_STRLEN]) {
        static const Name bits[] = {
                { IKE_FLAG_INITIATOR, "INITIATOR" },
                { IKE_FLAG_VERSION, "VERSION" },
                { IKE_FLAG_RESPONSE, "RESPONSE" },
        };
        size_t off = 0;

        buf[0] = '\0';
        flags &= 0xffu;
        for (size_t i = 0; i < N_ELEMENTS(bits); i++)
                if (flags & bits[i].value) {
                        off += (size_t) snprintf(buf + off, IKE_FLAGS_STRLEN - off, "%s%s", off ? "|" : "",
                                                 bits[i].name);
                        flags &= ~bits[i].value;
                }
        if (flags)
                snprintf(buf + off, IKE_FLAGS_STRLEN - off, "%s0x%02x", off ? "|" : "", flags);
        else if (off == 0)
                snprintf(buf, IKE_FLAGS_STRLEN, "none");
        return buf;
}

static const Name payloads[] = {
        { IKE_PL_NONE, "NONE" },
        { IKE_PL_SA, "SA" },
        { IKE_PL_KE, "KE" },
        { IKE_PL_IDI, "IDi" },
        { IKE_PL_IDR, "IDr" },
        { IKE_PL_CERT, "CERT" },
        { IKE_PL_CERTREQ, "CERTREQ" },
        { IKE_PL_AUTH, "AUTH" },
        { IKE_PL_NONCE, "Nonce" },
        { IKE_PL_NOTIFY, "Notify" },
        { IKE_PL_DELETE, "Delete" },
        { IKE_PL_VENDOR_ID, "Vendor ID" },
        { IKE_PL_TSI, "TSi" },
        { IKE_PL_TSR, "TSr" },
        { IKE_PL_SK, "SK" },
        { IKE_PL_CP, "CP" },
        { IKE_PL_EAP, "EAP" },
        { IKE_PL_GSPM, "GSPM" },
        { IKE_PL_IDG, "IDg" },
        { IKE_PL_GSA, "GSA" },
        { IKE_PL_KD, "KD" },
        { IKE_PL_SKF, "SKF" },
        { IKE_PL_PS, "PS" },
};

bool ike_payload_is_ikev1(unsigned type) {
        return type >= IKE_PL_IKEV1_FIRST && type <= IKE_PL_IKEV1_LAST;
}

bool ike_payload_is_supported(unsigned type) {
        return (type >= IKE_PL_SA && type <= IKE_PL_EAP) || type == IKE_PL_SKF;
}

const char *ike_payload_name(unsigned type) {
        if (ike_payload_is_ikev1(type))
                return "IKEv1 payload";
        return LOOKUP(payloads, type);
}

static const Name notifies[] = {
        { IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, "UNSUPPORTED_CRITICAL_PAYLOAD" },
        { IKE_N_INVALID_IKE_SPI, "INVALID_IKE_SPI" },
        { IKE_N_INVALID_MAJOR_VERSION, "INVALID_MAJOR_VERSION" },
        { IKE_N_INVALID_SYNTAX, "INVALID_SYNTAX" },
        { IKE_N_INVALID_MESSAGE_ID, "INVALID_MESSAGE_ID" },
        { IKE_N_INVALID_SPI, "INVALID_SPI" },
        { IKE_N_NO_PROPOSAL_CHOSEN, "NO_PROPOSAL_CHOSEN" },
        { IKE_N_INVALID_KE_PAYLOAD, "INVALID_KE_PAYLOAD" },
        { IKE_N_AUTHENTICATION_FAILED, "AUTHENTICATION_FAILED" },
        { IKE_N_SINGLE_PAIR_REQUIRED, "SINGLE_PAIR_REQUIRED" },
        { IKE_N_NO_ADDITIONAL_SAS, "NO_ADDITIONAL_SAS" },
        { IKE_N_INTERNAL_ADDRESS_FAILURE, "INTERNAL_ADDRESS_FAILURE" },
        { IKE_N_FAILED_CP_REQUIRED, "FAILED_CP_REQUIRED" },
        { IKE_N_TS_UNACCEPTABLE, "TS_UNACCEPTABLE" },
        { IKE_N_INVALID_SELECTORS, "INVALID_SELECTORS" },
        { IKE_N_UNACCEPTABLE_ADDRESSES, "UNACCEPTABLE_ADDRESSES" },
        { IKE_N_UNEXPECTED_NAT_DETECTED, "UNEXPECTED_NAT_DETECTED" },
        { IKE_N_USE_ASSIGNED_HoA, "USE_ASSIGNED_HoA" },
        { IKE_N_TEMPORARY_FAILURE, "TEMPORARY_FAILURE" },
        { IKE_N_CHILD_SA_NOT_FOUND, "CHILD_SA_NOT_FOUND" },
        { IKE_N_INITIAL_CONTACT, "INITIAL_CONTACT" },
        { IKE_N_SET_WINDOW_SIZE, "SET_WINDOW_SIZE" },
        { IKE_N_ADDITIONAL_TS_POSSIBLE, "ADDITIONAL_TS_POSSIBLE" },
        { IKE_N_IPCOMP_SUPPORTED, "IPCOMP_SUPPORTED" },
        { IKE_N_NAT_DETECTION_SOURCE_IP, "NAT_DETECTION_SOURCE_IP" },
        { IKE_N_NAT_DETECTION_DESTINATION_IP, "NAT_DETECTION_DESTINATION_IP" },
        { IKE_N_COOKIE, "COOKIE" },
        { IKE_N_USE_TRANSPORT_MODE, "USE_TRANSPORT_MODE" },
        { IKE_N_HTTP_CERT_LOOKUP_SUPPORTED, "HTTP_CERT_LOOKUP_SUPPORTED" },
        { IKE_N_REKEY_SA, "REKEY_SA" },
        { IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED, "ESP_TFC_PADDING_NOT_SUPPORTED" },
        { IKE_N_NON_FIRST_FRAGMENTS_ALSO, "NON_FIRST_FRAGMENTS_ALSO" },
        { IKE_N_MOBIKE_SUPPORTED, "MOBIKE_SUPPORTED" },
        { IKE_N_ADDITIONAL_IP4_ADDRESS, "ADDITIONAL_IP4_ADDRESS" },
        { IKE_N_ADDITIONAL_IP6_ADDRESS, "ADDITIONAL_IP6_ADDRESS" },
        { IKE_N_NO_ADDITIONAL_ADDRESSES, "NO_ADDITIONAL_ADDRESSES" },
        { IKE_N_UPDATE_SA_ADDRESSES, "UPDATE_SA_ADDRESSES" },
        { IKE_N_COOKIE2, "COOKIE2" },
        { IKE_N_NO_NATS_ALLOWED, "NO_NATS_ALLOWED" },
        { IKE_N_AUTH_LIFETIME, "AUTH_LIFETIME" },
        { IKE_N_MULTIPLE_AUTH_SUPPORTED, "MULTIPLE_AUTH_SUPPORTED" },
        { IKE_N_ANOTHER_AUTH_FOLLOWS, "ANOTHER_AUTH_FOLLOWS" },
        { IKE_N_REDIRECT_SUPPORTED, "REDIRECT_SUPPORTED" },
        { IKE_N_REDIRECT, "REDIRECT" },
        { IKE_N_REDIRECTED_FROM, "REDIRECTED_FROM" },
        { IKE_N_EAP_ONLY_AUTHENTICATION, "EAP_ONLY_AUTHENTICATION" },
        { IKE_N_CHILDLESS_IKEV2_SUPPORTED, "CHILDLESS_IKEV2_SUPPORTED" },
        { IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, "IKEV2_FRAGMENTATION_SUPPORTED" },
        { IKE_N_SIGNATURE_HASH_ALGORITHMS, "SIGNATURE_HASH_ALGORITHMS" },
        { IKE_N_INTERMEDIATE_EXCHANGE_SUPPORTED, "INTERMEDIATE_EXCHANGE_SUPPORTED" },
};

const char *ike_notify_name(unsigned type) {
        return LOOKUP(notifies, type);
}

bool ike_notify_is_error(unsigned type) {
        return type > 0 && type <= IKE_N_ERROR_MAX;
}

static const Name id_types[] = {
        { IKE_ID_IPV4_ADDR, "ID_IPV4_ADDR" },
        { IKE_ID_FQDN, "ID_FQDN" },
        { IKE_ID_RFC822_ADDR, "ID_RFC822_ADDR" },
        { IKE_ID_IPV6_ADDR, "ID_IPV6_ADDR" },
        { IKE_ID_DER_ASN1_DN, "ID_DER_ASN1_DN" },
        { IKE_ID_DER_ASN1_GN, "ID_DER_ASN1_GN" },
        { IKE_ID_KEY_ID, "ID_KEY_ID" },
        { IKE_ID_FC_NAME, "ID_FC_NAME" },
        { IKE_ID_NULL, "ID_NULL" },
};

const char *ike_id_type_name(unsigned type) {
        return LOOKUP(id_types, type);
}

static const Name auth_methods[] = {
        { IKE_AUTH_RSA_DIGITAL_SIGNATURE, "RSA_DIGITAL_SIGNATURE" },
        { IKE_AUTH_SHARED_KEY_MIC, "SHARED_KEY_MESSAGE_INTEGRITY_CODE" },
        { IKE_AUTH_DSS_DIGITAL_SIGNATURE, "DSS_DIGITAL_SIGNATURE" },
        { IKE_AUTH_ECDSA_SHA256_P256, "ECDSA_SHA256_P256" },
        { IKE_AUTH_ECDSA_SHA384_P384, "ECDSA_SHA384_P384" },
        { IKE_AUTH_ECDSA_SHA512_P521, "ECDSA_SHA512_P521" },
        { IKE_AUTH_GENERIC_SECURE_PASSWORD, "GENERIC_SECURE_PASSWORD_AUTHENTICATION_METHOD" },
        { IKE_AUTH_NULL_AUTHENTICATION, "NULL_AUTHENTICATION" },
        { IKE_AUTH_DIGITAL_SIGNATURE, "DIGITAL_SIGNATURE" },
};

const char *ike_auth_method_name(unsigned method) {
        return LOOKUP(auth_methods, method);
}

static const Name cert_encodings[] = {
        { IKE_CERT_PKCS7_X509, "PKCS7_WRAPPED_X509_CERTIFICATE" },
        { IKE_CERT_PGP, "PGP_CERTIFICATE" },
        { IKE_CERT_DNS_SIGNED_KEY, "DNS_SIGNED_KEY" },
        { IKE_CERT_X509_SIGNATURE, "X509_CERTIFICATE_SIGNATURE" },
        { IKE_CERT_KERBEROS_TOKEN, "KERBEROS_TOKEN" },
        { IKE_CERT_CRL, "CERTIFICATE_REVOCATION_LIST" },
        { IKE_CERT_ARL, "AUTHORITY_REVOCATION_LIST" },
        { IKE_CERT_SPKI, "SPKI_CERTIFICATE" },
        { IKE_CERT_X509_ATTRIBUTE, "X509_CERTIFICATE_ATTRIBUTE" },
        { IKE_CERT_RAW_RSA_KEY, "RAW_RSA_KEY" },
        { IKE_CERT_HASH_URL_X509_CERT, "HASH_AND_URL_OF_X509_CERTIFICATE" },
        { IKE_CERT_HASH_URL_X509_BUNDLE, "HASH_AND_URL_OF_X509_BUNDLE" },
        { IKE_CERT_OCSP_CONTENT, "OCSP_CONTENT" },
        { IKE_CERT_RAW_PUBLIC_KEY, "RAW_PUBLIC_KEY" },
};

const char *ike_cert_encoding_name(unsigned encoding) {
        return LOOKUP(cert_encodings, encoding);
}

static const Name ts_types[] = {
        { IKE_TS_IPV4_ADDR_RANGE, "TS_IPV4_ADDR_RANGE" },
        { IKE_TS_IPV6_ADDR_RANGE, "TS_IPV6_ADDR_RANGE" },
};

const char *ike_ts_type_name(unsigned type) {
        return LOOKUP(ts_types, type);
}

static const Name cfg_types[] = {
        { IKE_CFG_REQUEST, "CFG_REQUEST" },
        { IKE_CFG_REPLY, "CFG_REPLY" },
        { IKE_CFG_SET, "CFG_SET" },
        { IKE_CFG_ACK, "CFG_ACK" },
};

const char *ike_cfg_type_name(unsigned type) {
        return LOOKUP(cfg_types, type);
}

static const Name cfg_attrs[] = {
        { IKE_CFG_INTERNAL_IP4_ADDRESS, "INTERNAL_IP4_ADDRESS" },
        { IKE_CFG_INTERNAL_IP4_NETMASK, "INTERNAL_IP4_NETMASK" },
        { IKE_CFG_INTERNAL_IP4_DNS, "INTERNAL_IP4_DNS" },
        { IKE_CFG_INTERNAL_IP4_NBNS, "INTERNAL_IP4_NBNS" },
        { IKE_CFG_INTERNAL_IP4_DHCP, "INTERNAL_IP4_DHCP" },
        { IKE_CFG_APPLICATION_VERSION, "APPLICATION_VERSION" },
        { IKE_CFG_INTERNAL_IP6_ADDRESS, "INTERNAL_IP6_ADDRESS" },
        { IKE_CFG_INTERNAL_IP6_DNS, "INTERNAL_IP6_DNS" },
        { IKE_CFG_INTERNAL_IP6_DHCP, "INTERNAL_IP6_DHCP" },
        { IKE_CFG_INTERNAL_IP4_SUBNET, "INTERNAL_IP4_SUBNET" },
        { IKE_CFG_SUPPORTED_ATTRIBUTES, "SUPPORTED_ATTRIBUTES" },
        { IKE_CFG_INTERNAL_IP6_SUBNET, "INTERNAL_IP6_SUBNET" },
};

const char *ike_cfg_attr_name(unsigned type) {
        return LOOKUP(cfg_attrs, type);
}

/* The groups Bulkhead implements (the DH rows of policy/proposal.c), with
 * their public value lengths. Others are named for the logs only. */
typedef struct Group {
        unsigned id;
        const char *name;
        size_t ke_len; /* 0: not implemented here */
} Group;

static const Group groups[] = {
        { 1, "MODP_768", 0 },
        { 2, "MODP_1024", 0 },
        { 5, "MODP_1536", 0 },
        { BH_MODP_2048, "MODP_2048", 256 },
        { BH_MODP_3072, "MODP_3072", 384 },
        { BH_MODP_4096, "MODP_4096", 512 },
        { 17, "MODP_6144", 0 },
        { 18, "MODP_8192", 0 },
        { BH_ECP_256, "ECP_256", 64 },
        { BH_ECP_384, "ECP_384", 96 },
        { BH_ECP_521, "ECP_521", 132 },
        { 22, "MODP_1024_160", 0 },
        { 23, "MODP_2048_224", 0 },
        { 24, "MODP_2048_256", 0 },
        { 25, "ECP_192", 0 },
        { 26, "ECP_224", 0 },
        { 27, "ECP_224_BP", 0 },
        { 28, "ECP_256_BP", 0 },
        { 29, "ECP_384_BP", 0 },
        { 30, "ECP_512_BP", 0 },
        { BH_CURVE_25519, "CURVE_25519", 32 },
        { 32, "CURVE_448", 0 },
};

size_t ike_dh_ke_len(unsigned group) {
        for (size_t i = 0; i < N_ELEMENTS(groups); i++)
                if (groups[i].id == group)
                        return groups[i].ke_len;
        return 0;
}

const char *ike_dh_name(unsigned group) {
        for (size_t i = 0; i < N_ELEMENTS(groups); i++)
                if (groups[i].id == group)
                        return groups[i].name;
        return "UNKNOWN";
}

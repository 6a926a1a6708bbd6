/* SPDX-License-Identifier: ISC */
#pragma once

/* IKEv2 protocol numbers (RFC 7296 and the IANA "Internet Key Exchange
 * Version 2 (IKEv2) Parameters" registry), each with its RFC name, and the
 * name tables that let a log say IKE_AUTH instead of 35.
 *
 * What already exists elsewhere is reused, not repeated: Protocol IDs
 * (BhProtocolId: IKE 1, AH 2, ESP 3), Transform Types and Transform IDs
 * (BH_TRANSFORM_*, BH_ENCR_*, BH_AUTH_*, BH_PRF_*, BH_MODP_*, BH_ECP_*,
 * BH_CURVE_25519) are in policy/proposal.h and crypto/transform.h.
 *
 * Every *_name() function returns a static string and never NULL: "UNKNOWN"
 * for a value without a name here, so that a caller logs "%s (%u)". */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proposal.h"

/* ------------------------------------------------------------ header */

/* RFC 7296 3.1: the fixed IKE header. */
#define IKE_HEADER_LEN 28u
/* The generic payload header (3.2). */
#define IKE_PAYLOAD_HEADER_LEN 4u
/* Major version 2, minor 0 (3.1: sent as 2.0; the minor version of a
 * received message is ignored). */
#define IKE_MAJOR_VERSION 2u
#define IKE_MINOR_VERSION 0u
#define IKE_VERSION ((IKE_MAJOR_VERSION << 4) | IKE_MINOR_VERSION)

/* Exchange Types (3.1; 38 RFC 5723, 43 RFC 9242, 44 RFC 9370). 0-33 are
 * reserved: 0-31 were IKEv1's. */
typedef enum IkeExchange {
        IKE_EXCH_IKE_SA_INIT = 34,
        IKE_EXCH_IKE_AUTH = 35,
        IKE_EXCH_CREATE_CHILD_SA = 36,
        IKE_EXCH_INFORMATIONAL = 37,
        IKE_EXCH_IKE_SESSION_RESUME = 38, /* named, not supported */
        IKE_EXCH_IKE_INTERMEDIATE = 43,   /* named, not supported */
        IKE_EXCH_IKE_FOLLOWUP_KE = 44,    /* named, not supported */
} IkeExchange;

/* Header flags (3.1). The other five bits are sent as zero and ignored on
 * receipt, as is the Version bit. */
enum {
        IKE_FLAG_INITIATOR = 0x08, /* sent by the original initiator of the IKE SA */
        IKE_FLAG_VERSION = 0x10,   /* "I could speak a higher major version" */
        IKE_FLAG_RESPONSE = 0x20,  /* this message answers a request with the same message ID */
};

/* Room for ike_flags_string(): "INITIATOR|VERSION|RESPONSE|0xc7". */
#define IKE_FLAGS_STRLEN 40
/* The flags as logs show them: "INITIATOR|RESPONSE", "none"; bits without a
 * name are appended in hex. Returns buf. */
const char *ike_flags_string(unsigned flags, char buf[static IKE_FLAGS_STRLEN]);

/* Critical bit of the generic payload header (3.2). */
#define IKE_PAYLOAD_CRITICAL 0x80u

/* ------------------------------------------------------------ payloads */

/* Payload Types (3.2; 49 RFC 6467, 50-52 G-IKEv2, 53 RFC 7383, 54 RFC 8019).
 * 1-32 are reserved for IKEv2: 1-13 are IKEv1's payloads (RFC 2408), which
 * an IKEv2 message must never carry. */
typedef enum IkePayloadType {
        IKE_PL_NONE = 0,
        IKE_PL_SA = 33,        /* Security Association */
        IKE_PL_KE = 34,        /* Key Exchange */
        IKE_PL_IDI = 35,       /* Identification - Initiator */
        IKE_PL_IDR = 36,       /* Identification - Responder */
        IKE_PL_CERT = 37,      /* Certificate */
        IKE_PL_CERTREQ = 38,   /* Certificate Request */
        IKE_PL_AUTH = 39,      /* Authentication */
        IKE_PL_NONCE = 40,     /* Nonce (Ni, Nr) */
        IKE_PL_NOTIFY = 41,    /* Notify (N) */
        IKE_PL_DELETE = 42,    /* Delete (D) */
        IKE_PL_VENDOR_ID = 43, /* Vendor ID (V) */
        IKE_PL_TSI = 44,       /* Traffic Selector - Initiator */
        IKE_PL_TSR = 45,       /* Traffic Selector - Responder */
        IKE_PL_SK = 46,        /* Encrypted and Authenticated */
        IKE_PL_CP = 47,        /* Configuration */
        IKE_PL_EAP = 48,       /* Extensible Authentication */
        IKE_PL_GSPM = 49,      /* Generic Secure Password Methods: named, not supported */
        IKE_PL_IDG = 50,       /* Group Identification: named, not supported */
        IKE_PL_GSA = 51,       /* Group Security Association: named, not supported */
        IKE_PL_KD = 52,        /* Key Download: named, not supported */
        IKE_PL_SKF = 53,       /* Encrypted and Authenticated Fragment (RFC 7383) */
        IKE_PL_PS = 54,        /* Puzzle Solution: named, not supported */
} IkePayloadType;

/* IKEv1 payload types (RFC 2408 3.1, 1..13): refused in an IKEv2 message. */
#define IKE_PL_IKEV1_FIRST 1u
#define IKE_PL_IKEV1_LAST 13u

/* Is `type` an IKEv1 payload type? */
bool ike_payload_is_ikev1(unsigned type);
/* Does this layer parse the payload type (SA .. EAP, SKF)? The others are
 * "unrecognized" in the sense of RFC 7296 3.2. */
bool ike_payload_is_supported(unsigned type);

/* ------------------------------------------------------------ notify */

/* Notify Message Types (3.10.1). Errors are below 16384, status types from
 * 16384 on. */
enum {
        /* errors */
        IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD = 1,
        IKE_N_INVALID_IKE_SPI = 4,
        IKE_N_INVALID_MAJOR_VERSION = 5,
        IKE_N_INVALID_SYNTAX = 7,
        IKE_N_INVALID_MESSAGE_ID = 9,
        IKE_N_INVALID_SPI = 11,
        IKE_N_NO_PROPOSAL_CHOSEN = 14,
        IKE_N_INVALID_KE_PAYLOAD = 17,
        IKE_N_AUTHENTICATION_FAILED = 24,
        IKE_N_SINGLE_PAIR_REQUIRED = 34,
        IKE_N_NO_ADDITIONAL_SAS = 35,
        IKE_N_INTERNAL_ADDRESS_FAILURE = 36,
        IKE_N_FAILED_CP_REQUIRED = 37,
        IKE_N_TS_UNACCEPTABLE = 38,
        IKE_N_INVALID_SELECTORS = 39,
        IKE_N_UNACCEPTABLE_ADDRESSES = 40, /* RFC 4555 */
        IKE_N_UNEXPECTED_NAT_DETECTED = 41, /* RFC 4555 */
        IKE_N_USE_ASSIGNED_HoA = 42,       /* RFC 5026 */
        IKE_N_TEMPORARY_FAILURE = 43,
        IKE_N_CHILD_SA_NOT_FOUND = 44,

        IKE_N_ERROR_MAX = 16383,

        /* status */
        IKE_N_INITIAL_CONTACT = 16384,
        IKE_N_SET_WINDOW_SIZE = 16385,
        IKE_N_ADDITIONAL_TS_POSSIBLE = 16386,
        IKE_N_IPCOMP_SUPPORTED = 16387,
        IKE_N_NAT_DETECTION_SOURCE_IP = 16388,
        IKE_N_NAT_DETECTION_DESTINATION_IP = 16389,
        IKE_N_COOKIE = 16390,
        IKE_N_USE_TRANSPORT_MODE = 16391,
        IKE_N_HTTP_CERT_LOOKUP_SUPPORTED = 16392,
        IKE_N_REKEY_SA = 16393,
        IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
        IKE_N_NON_FIRST_FRAGMENTS_ALSO = 16395,
        IKE_N_MOBIKE_SUPPORTED = 16396,    /* RFC 4555 */
        IKE_N_ADDITIONAL_IP4_ADDRESS = 16397,
        IKE_N_ADDITIONAL_IP6_ADDRESS = 16398,
        IKE_N_NO_ADDITIONAL_ADDRESSES = 16399,
        IKE_N_UPDATE_SA_ADDRESSES = 16400,
        IKE_N_COOKIE2 = 16401,
        IKE_N_NO_NATS_ALLOWED = 16402,
        IKE_N_AUTH_LIFETIME = 16403,       /* RFC 4478 */
        IKE_N_MULTIPLE_AUTH_SUPPORTED = 16404, /* RFC 4739 */
        IKE_N_ANOTHER_AUTH_FOLLOWS = 16405,
        IKE_N_REDIRECT_SUPPORTED = 16406,  /* RFC 5685 */
        IKE_N_REDIRECT = 16407,
        IKE_N_REDIRECTED_FROM = 16408,
        IKE_N_EAP_ONLY_AUTHENTICATION = 16417, /* RFC 5998 */
        IKE_N_CHILDLESS_IKEV2_SUPPORTED = 16418, /* RFC 6023 */
        IKE_N_IKEV2_FRAGMENTATION_SUPPORTED = 16430, /* RFC 7383 */
        IKE_N_SIGNATURE_HASH_ALGORITHMS = 16431,     /* RFC 7427 */
        IKE_N_INTERMEDIATE_EXCHANGE_SUPPORTED = 16438, /* RFC 9242 */
};

/* Sizes fixed by the RFCs for some notifications' data. */
#define IKE_COOKIE_MAX 64u          /* 2.6: 1..64 octets */
#define IKE_NATD_HASH_LEN 20u       /* 2.23: SHA-1(SPIs | IP | port) */

bool ike_notify_is_error(unsigned type);

/* ------------------------------------------------------------ identities */

/* ID Types (3.5; 12 RFC 4595, 13 RFC 7619). */
enum {
        IKE_ID_IPV4_ADDR = 1,
        IKE_ID_FQDN = 2,
        IKE_ID_RFC822_ADDR = 3,
        IKE_ID_IPV6_ADDR = 5,
        IKE_ID_DER_ASN1_DN = 9,
        IKE_ID_DER_ASN1_GN = 10,
        IKE_ID_KEY_ID = 11,
        IKE_ID_FC_NAME = 12,
        IKE_ID_NULL = 13,
};

/* Authentication Methods (3.8; 9-11 RFC 4754, 12 RFC 6467, 13 RFC 7619,
 * 14 RFC 7427). */
enum {
        IKE_AUTH_RSA_DIGITAL_SIGNATURE = 1,
        IKE_AUTH_SHARED_KEY_MIC = 2, /* "Shared Key Message Integrity Code": PSK */
        IKE_AUTH_DSS_DIGITAL_SIGNATURE = 3,
        IKE_AUTH_ECDSA_SHA256_P256 = 9,
        IKE_AUTH_ECDSA_SHA384_P384 = 10,
        IKE_AUTH_ECDSA_SHA512_P521 = 11,
        IKE_AUTH_GENERIC_SECURE_PASSWORD = 12,
        IKE_AUTH_NULL_AUTHENTICATION = 13,
        IKE_AUTH_DIGITAL_SIGNATURE = 14,
};

/* Certificate Encodings (3.6; kept opaque by this layer). */
enum {
        IKE_CERT_PKCS7_X509 = 1,
        IKE_CERT_PGP = 2,
        IKE_CERT_DNS_SIGNED_KEY = 3,
        IKE_CERT_X509_SIGNATURE = 4,
        IKE_CERT_KERBEROS_TOKEN = 6,
        IKE_CERT_CRL = 7,
        IKE_CERT_ARL = 8,
        IKE_CERT_SPKI = 9,
        IKE_CERT_X509_ATTRIBUTE = 10,
        IKE_CERT_RAW_RSA_KEY = 11,
        IKE_CERT_HASH_URL_X509_CERT = 12,
        IKE_CERT_HASH_URL_X509_BUNDLE = 13,
        IKE_CERT_OCSP_CONTENT = 14, /* RFC 4806 */
        IKE_CERT_RAW_PUBLIC_KEY = 15, /* RFC 7670 */
};

/* ------------------------------------------------------------ selectors */

/* Traffic Selector Types (3.13.1). */
enum {
        IKE_TS_IPV4_ADDR_RANGE = 7,
        IKE_TS_IPV6_ADDR_RANGE = 8,
};
/* Selector Length of each type: header 8 + two addresses. */
#define IKE_TS_IPV4_LEN 16u
#define IKE_TS_IPV6_LEN 40u
/* 3.13.1: start port 65535, end port 0 means OPAQUE ports. */
#define IKE_TS_OPAQUE_START 65535u
#define IKE_TS_OPAQUE_END 0u

/* ------------------------------------------------------------ SA payload */

/* Last Substruc values (3.3.1, 3.3.2). */
enum {
        IKE_SUBSTRUC_LAST = 0,
        IKE_SUBSTRUC_PROPOSAL = 2, /* more proposals follow */
        IKE_SUBSTRUC_TRANSFORM = 3, /* more transforms follow */
};

/* Transform Attribute Types (3.3.5): only Key Length exists. */
enum {
        IKE_ATTR_KEY_LENGTH = 14,
};
/* Attribute Format bit: 1 = TV (two-octet value), 0 = TLV. */
#define IKE_ATTR_FORMAT_TV 0x8000u

/* KE payload data length for a group this suite implements (RFC 7296
 * 3.4: the length of a MODP value is the length of the prime, RFC 5903 7:
 * an ECP value is x || y, RFC 8031 2: an X25519 value is 32 octets); 0 for
 * any other group. */
size_t ike_dh_ke_len(unsigned group);
/* IANA name of a Diffie-Hellman group: "MODP_2048", "ECP_256", "CURVE_25519". */
const char *ike_dh_name(unsigned group);

/* ------------------------------------------------------------ CP payload */

/* CFG Types (3.15). */
enum {
        IKE_CFG_REQUEST = 1,
        IKE_CFG_REPLY = 2,
        IKE_CFG_SET = 3,
        IKE_CFG_ACK = 4,
};

/* Configuration Attributes (3.15.1). */
enum {
        IKE_CFG_INTERNAL_IP4_ADDRESS = 1,
        IKE_CFG_INTERNAL_IP4_NETMASK = 2,
        IKE_CFG_INTERNAL_IP4_DNS = 3,
        IKE_CFG_INTERNAL_IP4_NBNS = 4,
        IKE_CFG_INTERNAL_IP4_DHCP = 6,
        IKE_CFG_APPLICATION_VERSION = 7,
        IKE_CFG_INTERNAL_IP6_ADDRESS = 8,
        IKE_CFG_INTERNAL_IP6_DNS = 10,
        IKE_CFG_INTERNAL_IP6_DHCP = 12,
        IKE_CFG_INTERNAL_IP4_SUBNET = 13,
        IKE_CFG_SUPPORTED_ATTRIBUTES = 14,
        IKE_CFG_INTERNAL_IP6_SUBNET = 15,
};

/* ------------------------------------------------------------ names */

const char *ike_exchange_name(unsigned exchange);
const char *ike_payload_name(unsigned type);        /* "SA", "KE", "IDi", ..., "IKEv1 payload" for 1..13 */
const char *ike_notify_name(unsigned type);
const char *ike_id_type_name(unsigned type);
const char *ike_auth_method_name(unsigned method);
const char *ike_cert_encoding_name(unsigned encoding);
const char *ike_ts_type_name(unsigned type);
const char *ike_cfg_type_name(unsigned type);
const char *ike_cfg_attr_name(unsigned type);

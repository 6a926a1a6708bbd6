/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "iface.h"
#include "suite.h"

/* Order matters: the supervisor starts services in this order, logd first so
 * that the others' first lines have somewhere to go. */
const BhSuiteEntry bh_suite[_BH_SERVICE_MAX] = {
        { BH_SERVICE_SUPERVISOR, "supervisor", "org.bulkhead.Supervisor", "/org/bulkhead/Supervisor",
          "bulkheadd", "root", "supervisor", BH_RESTART_NEVER, BH_ACCESS_SUPERVISOR },
        { BH_SERVICE_LOGD, "logd", "org.bulkhead.Logger", "/org/bulkhead/Logger",
          "bulkhead-logd", "bulkhead-log", "logd", BH_RESTART_ALWAYS, BH_ACCESS_LOGD },
        { BH_SERVICE_STATD, "statd", "org.bulkhead.Stats", "/org/bulkhead/Stats",
          "bulkhead-statd", "bulkhead-stat", "statd", BH_RESTART_ALWAYS, BH_ACCESS_STATD },
        { BH_SERVICE_CRYPTOD, "cryptod", "org.bulkhead.Crypto", "/org/bulkhead/Crypto",
          "bulkhead-cryptod", "bulkhead-crypto", "cryptod", BH_RESTART_ALWAYS, BH_ACCESS_CRYPTOD },
        { BH_SERVICE_FILTERD, "filterd", "org.bulkhead.Filter", "/org/bulkhead/Filter",
          "bulkhead-filterd", "bulkhead-filter", "filterd", BH_RESTART_ALWAYS, BH_ACCESS_FILTERD,
          /* The TUN device, ESP in UDP 4500, raw ESP (protocol 50), raw AH
           * in (51) and whole IP packets out (AH); then the other workers'
           * TUN queues and UDP 4500 sockets, as many as there are workers
           * (services/supervisor/resources.c). */
          { "tun", "esp-udp4", "esp-udp6", "esp-raw4", "esp-raw6", "ah-raw4", "ah-raw6", "ip-raw4", "ip-raw6",
            "tun.1", "esp-udp4.1", "esp-udp6.1", "tun.2", "esp-udp4.2", "esp-udp6.2", "tun.3", "esp-udp4.3",
            "esp-udp6.3" } },
        { BH_SERVICE_ISAKMPD, "isakmpd", "org.bulkhead.Isakmpd", "/org/bulkhead/Isakmpd",
          "bulkhead-isakmpd", "bulkhead-isakmpd", "isakmpd", BH_RESTART_ALWAYS, BH_ACCESS_ISAKMPD,
          /* UDP 500, and the IKE half of UDP 4500 (after filterd's: see
           * services/supervisor/resources.c). */
          { "ike-udp4", "ike-udp6", "ike-natt4", "ike-natt6" } },
        { BH_SERVICE_TMD, "tmd", "org.bulkhead.Tmd", "/org/bulkhead/Tmd",
          "bulkhead-tmd", "bulkhead-tmd", "tmd", BH_RESTART_ALWAYS, BH_ACCESS_TMD },
};

const BhSuiteEntry *bh_suite_by_name(const char *name) {
        if (!name)
                return NULL;
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                if (strcmp(bh_suite[i].name, name) == 0 || strcmp(bh_suite[i].bus_name, name) == 0)
                        return &bh_suite[i];
        return NULL;
}

const BhSuiteEntry *bh_suite_by_bus_name(const char *bus_name) {
        if (!bus_name)
                return NULL;
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                if (strcmp(bh_suite[i].bus_name, bus_name) == 0)
                        return &bh_suite[i];
        return NULL;
}

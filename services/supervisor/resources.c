/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "resources.h"
#include "route.h"

#define ESP_UDP_PORT 4500
#define IKE_UDP_PORT 500

static int fail(char **ret_error, int err, const char *what) {
        if (ret_error)
                *ret_error = g_strdup_printf("%s: %s", what, strerror(err));
        return -err;
}

/* The TUN device filterd reads inner packets from and writes them to: no
 * packet information header but a virtio-net header (IFF_VNET_HDR), so that
 * the local stack may hand over TCP in 64 KiB pieces and take them back
 * (TUN_F_TSO4/6; filterd cuts and joins them, services/filterd/offload.h),
 * brought up with an MTU that leaves room for ESP, UDP and an outer IPv6
 * header. A kernel that refuses the offloads still gets the header: filterd
 * then sees plain packets behind it. */
/* With more than one worker, the device has a queue for each
 * (IFF_MULTI_QUEUE): "tun" creates it with the first, "tun.K" attaches
 * queue K; the kernel spreads what the stack sends over the queues by flow. */
static int open_tun(const ResourceSettings *o, bool first, char **ret_error) {
        int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
        if (fd < 0)
                return fail(ret_error, errno, "/dev/net/tun");
        struct ifreq ifr = { 0 };
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR | (o->workers > 1 ? IFF_MULTI_QUEUE : 0);
        g_strlcpy(ifr.ifr_name, o->tun_name, IFNAMSIZ);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, first ? "creating the TUN device" : "adding a queue to the TUN device");
        }
        if (ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0 &&
            ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM) < 0)
                bh_log_event("the TUN device takes no offloads (%s): one packet per read", strerror(errno));
        if (!first)
                return fd;
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, "socket");
        }
        struct ifreq req = { 0 };
        g_strlcpy(req.ifr_name, ifr.ifr_name, IFNAMSIZ);
        req.ifr_mtu = (int) o->tun_mtu;
        int r = ioctl(s, SIOCSIFMTU, &req);
        if (r == 0)
                r = ioctl(s, SIOCGIFFLAGS, &req);
        if (r == 0) {
                req.ifr_flags |= IFF_UP;
                r = ioctl(s, SIOCSIFFLAGS, &req);
        }
        int e = errno;
        close(s);
        if (r < 0) {
                close(fd);
                return fail(ret_error, e, "bringing the TUN device up");
        }
        return fd;
}

/* What the suite sends itself (ESP, AH, IKE) carries the mark that takes
 * it past Bulkhead's routing table (route.h): to the peer by the main
 * table, never back into the TUN device. */
static int mark(int fd, char **ret_error) {
        int m = ROUTE_MARK;
        if (setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof m) < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, "SO_MARK");
        }
        return fd;
}

/* Bursts of ESP must not overflow the socket while filterd is busy: room
 * for thousands of packets (FORCE: above the sysctl limits, as root). */
static void size_buffers(int fd) {
        int size = 8 * 1024 * 1024;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

/*
 * UDP 4500 carries ESP for filterd and IKE for isakmpd (RFC 3948). The
 * sockets are bound to the port in one SO_REUSEPORT group: first one for
 * each of filterd's N workers ("esp-udp4", "esp-udp4.1", ...), then
 * isakmpd's. Its selector sends a datagram that starts with the four zero
 * octets of the non-ESP marker to isakmpd (index N), and ESP to the worker
 * its SPI names (index SPI mod N), so that every packet of an inbound SA
 * meets the same worker, its replay window and its cipher context. A NAT
 * keepalive's single octet fails the load, and the program answers 0. The
 * supervisor keeps the sockets open for the suite's life, so the order,
 * which is the group's index, never changes.
 */
static int attach_marker_selector(int fd, unsigned workers) {
        struct sock_filter code[] = {
                BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),          /* the first four payload octets */
                BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),   /* zero: the non-ESP marker */
                BPF_STMT(BPF_RET | BPF_K, workers),             /* isakmpd */
                BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, workers),   /* the SPI's worker */
                BPF_STMT(BPF_RET | BPF_A, 0),
        };
        struct sock_fprog prog = { .len = G_N_ELEMENTS(code), .filter = code };
        return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

static int open_udp(int family, uint16_t port, bool reuse, char **ret_error) {
        int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP);
        if (fd < 0)
                return fail(ret_error, errno, "UDP socket");
        size_buffers(fd);
        int one = 1;
        if (family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, "SO_REUSEPORT");
        }
        union {
                struct sockaddr_in v4;
                struct sockaddr_in6 v6;
        } a = { 0 };
        socklen_t len;
        if (family == AF_INET) {
                a.v4.sin_family = AF_INET;
                a.v4.sin_port = htons(port);
                len = sizeof a.v4;
        } else {
                a.v6.sin6_family = AF_INET6;
                a.v6.sin6_port = htons(port);
                len = sizeof a.v6;
        }
        if (bind(fd, (struct sockaddr *) &a, len) < 0) {
                int e = errno;
                close(fd);
                g_autofree char *what = g_strdup_printf("binding UDP %s:%u", family == AF_INET ? "0.0.0.0" : "[::]", port);
                return fail(ret_error, e, what);
        }
        return mark(fd, ret_error);
}

/* isakmpd's half of UDP 4500: joins the group filterd's sockets made. */
static int open_ike_natt(int family, unsigned workers, char **ret_error) {
        int fd = open_udp(family, ESP_UDP_PORT, true, ret_error);
        if (fd >= 0 && attach_marker_selector(fd, workers) < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, "attaching the UDP 4500 selector");
        }
        return fd;
}

static int open_raw_esp(int family, char **ret_error) {
        int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ESP);
        if (fd < 0)
                return fail(ret_error, errno, family == AF_INET ? "raw ESP socket" : "raw ESP socket (IPv6)");
        size_buffers(fd);
        return mark(fd, ret_error);
}

/* AH is received on a raw socket of its protocol (IPv4: from the IP
 * header on; IPv6: from the AH header on) and sent whole, with the IP
 * header the ICV covers, through an IPPROTO_RAW socket (IPv6 too: such a
 * socket takes the whole packet, as IPV6_HDRINCL would, and leaves every
 * field as it is). */
static int open_raw(int family, int proto, const char *what, char **ret_error) {
        int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK, proto);
        if (fd < 0)
                return fail(ret_error, errno, what);
        size_buffers(fd);
        return mark(fd, ret_error);
}

/* "NAME.K": worker K's NAME (K from 1); *ret_k 0 for a plain name. */
static const char *worker_of(const char *name, char base[static 16], unsigned *ret_k) {
        const char *dot = strchr(name, '.');
        *ret_k = 0;
        if (!dot || dot - name >= 16 || dot[1] < '1' || dot[1] > '0' + RESOURCE_MAX_WORKERS - 1 || dot[2])
                return name;
        memcpy(base, name, (size_t) (dot - name));
        base[dot - name] = 0;
        *ret_k = (unsigned) (dot[1] - '0');
        return base;
}

int resource_open(const char *name, const ResourceSettings *o, char **ret_error) {
        char buf[16];
        unsigned k;
        const char *base = worker_of(name, buf, &k);
        if (strcmp(base, "tun") == 0)
                return open_tun(o, k == 0, ret_error);
        if (strcmp(base, "esp-udp4") == 0)
                return open_udp(AF_INET, ESP_UDP_PORT, true, ret_error);
        if (strcmp(base, "esp-udp6") == 0)
                return open_udp(AF_INET6, ESP_UDP_PORT, true, ret_error);
        if (k)
                return fail(ret_error, ENOENT, name);
        if (strcmp(name, "ike-udp4") == 0)
                return open_udp(AF_INET, IKE_UDP_PORT, false, ret_error);
        if (strcmp(name, "ike-udp6") == 0)
                return open_udp(AF_INET6, IKE_UDP_PORT, false, ret_error);
        if (strcmp(name, "ike-natt4") == 0)
                return open_ike_natt(AF_INET, o->workers, ret_error);
        if (strcmp(name, "ike-natt6") == 0)
                return open_ike_natt(AF_INET6, o->workers, ret_error);
        if (strcmp(name, "esp-raw4") == 0)
                return open_raw_esp(AF_INET, ret_error);
        if (strcmp(name, "esp-raw6") == 0)
                return open_raw_esp(AF_INET6, ret_error);
        if (strcmp(name, "ah-raw4") == 0)
                return open_raw(AF_INET, IPPROTO_AH, "raw AH socket", ret_error);
        if (strcmp(name, "ah-raw6") == 0)
                return open_raw(AF_INET6, IPPROTO_AH, "raw AH socket (IPv6)", ret_error);
        if (strcmp(name, "ip-raw4") == 0)
                return open_raw(AF_INET, IPPROTO_RAW, "raw IPv4 socket", ret_error);
        if (strcmp(name, "ip-raw6") == 0)
                return open_raw(AF_INET6, IPPROTO_RAW, "raw IPv6 socket", ret_error);
        return fail(ret_error, ENOENT, name);
}

bool resource_wanted(const char *name, const ResourceSettings *o) {
        char buf[16];
        unsigned k;
        worker_of(name, buf, &k);
        return k < o->workers;
}

bool resource_known(const char *name) {
        static const char *const names[] = { "tun", "esp-udp4", "esp-udp6", "esp-raw4", "esp-raw6", "ah-raw4",
                                             "ah-raw6", "ip-raw4", "ip-raw6", "ike-udp4", "ike-udp6", "ike-natt4",
                                             "ike-natt6" };
        char buf[16];
        unsigned k;
        const char *base = worker_of(name, buf, &k);
        if (k)
                return strcmp(base, "tun") == 0 || strcmp(base, "esp-udp4") == 0 || strcmp(base, "esp-udp6") == 0;
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

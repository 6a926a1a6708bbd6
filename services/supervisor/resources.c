/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib.h>

#include "resources.h"

#define ESP_UDP_PORT 4500

static int fail(char **ret_error, int err, const char *what) {
        if (ret_error)
                *ret_error = g_strdup_printf("%s: %s", what, strerror(err));
        return -err;
}

/* The TUN device filterd reads inner packets from and writes them to: no
 * packet information header, brought up with an MTU that leaves room for
 * ESP, UDP and an outer IPv6 header. */
static int open_tun(const ResourceSettings *o, char **ret_error) {
        int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
        if (fd < 0)
                return fail(ret_error, errno, "/dev/net/tun");
        struct ifreq ifr = { 0 };
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        g_strlcpy(ifr.ifr_name, o->tun_name, IFNAMSIZ);
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, "creating the TUN device");
        }
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

/* Bursts of ESP must not overflow the socket while filterd is busy: room
 * for thousands of packets (FORCE: above the sysctl limits, as root). */
static void size_buffers(int fd) {
        int size = 8 * 1024 * 1024;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
                setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
}

static int open_udp(int family, char **ret_error) {
        int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP);
        if (fd < 0)
                return fail(ret_error, errno, "UDP socket");
        size_buffers(fd);
        int one = 1;
        if (family == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        union {
                struct sockaddr_in v4;
                struct sockaddr_in6 v6;
        } a = { 0 };
        socklen_t len;
        if (family == AF_INET) {
                a.v4.sin_family = AF_INET;
                a.v4.sin_port = htons(ESP_UDP_PORT);
                len = sizeof a.v4;
        } else {
                a.v6.sin6_family = AF_INET6;
                a.v6.sin6_port = htons(ESP_UDP_PORT);
                len = sizeof a.v6;
        }
        if (bind(fd, (struct sockaddr *) &a, len) < 0) {
                int e = errno;
                close(fd);
                return fail(ret_error, e, family == AF_INET ? "binding UDP 4500" : "binding UDP [::]:4500");
        }
        return fd;
}

static int open_raw_esp(int family, char **ret_error) {
        int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ESP);
        if (fd < 0)
                return fail(ret_error, errno, family == AF_INET ? "raw ESP socket" : "raw ESP socket (IPv6)");
        size_buffers(fd);
        return fd;
}

/* AH is received on a raw socket of its protocol and sent whole, with the
 * outer IPv4 header the ICV covers, through an IPPROTO_RAW socket. */
static int open_raw(int proto, const char *what, char **ret_error) {
        int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, proto);
        if (fd < 0)
                return fail(ret_error, errno, what);
        size_buffers(fd);
        return fd;
}

int resource_open(const char *name, const ResourceSettings *o, char **ret_error) {
        if (strcmp(name, "tun") == 0)
                return open_tun(o, ret_error);
        if (strcmp(name, "esp-udp4") == 0)
                return open_udp(AF_INET, ret_error);
        if (strcmp(name, "esp-udp6") == 0)
                return open_udp(AF_INET6, ret_error);
        if (strcmp(name, "esp-raw4") == 0)
                return open_raw_esp(AF_INET, ret_error);
        if (strcmp(name, "esp-raw6") == 0)
                return open_raw_esp(AF_INET6, ret_error);
        if (strcmp(name, "ah-raw4") == 0)
                return open_raw(IPPROTO_AH, "raw AH socket", ret_error);
        if (strcmp(name, "ip-raw4") == 0)
                return open_raw(IPPROTO_RAW, "raw IPv4 socket", ret_error);
        return fail(ret_error, ENOENT, name);
}

bool resource_known(const char *name) {
        static const char *const names[] = { "tun", "esp-udp4", "esp-udp6", "esp-raw4", "esp-raw6", "ah-raw4", "ip-raw4" };
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

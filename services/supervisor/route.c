/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <glib.h>

#include "route.h"

typedef struct Request {
        struct nlmsghdr nh;
        struct rtmsg rt;
        char attrs[128];
} Request;

static void add_attr(Request *r, unsigned short type, const void *data, size_t len) {
        struct rtattr *a = (struct rtattr *) ((char *) r + NLMSG_ALIGN(r->nh.nlmsg_len));
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int fail(char **ret_error, int err, const char *what) {
        if (ret_error)
                *ret_error = g_strdup_printf("%s: %s", what, g_strerror(err));
        return -err;
}

int route_change(bool add, const BhTs *prefix, const BhAddr *src, const char *ifname, char **ret_error) {
        unsigned ifindex = if_nametoindex(ifname);
        if (!ifindex)
                return fail(ret_error, errno, ifname);
        int family = prefix->addr.family;
        size_t alen = bh_addr_len(family);
        Request req = { 0 };
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.rt);
        req.nh.nlmsg_type = add ? RTM_NEWROUTE : RTM_DELROUTE;
        req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
        req.nh.nlmsg_seq = 1;
        req.rt.rtm_family = (unsigned char) family;
        req.rt.rtm_dst_len = prefix->prefix_len;
        req.rt.rtm_table = RT_TABLE_MAIN;
        req.rt.rtm_protocol = RTPROT_BOOT;      /* as `ip route` */
        req.rt.rtm_type = RTN_UNICAST;
        /* A route through a device without a gateway reaches its hosts
         * directly (`ip route` does the same for IPv4). */
        req.rt.rtm_scope = !add ? RT_SCOPE_NOWHERE : family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
        add_attr(&req, RTA_DST, prefix->addr.bytes, alen);
        uint32_t oif = ifindex;
        add_attr(&req, RTA_OIF, &oif, sizeof oif);
        if (add && src && src->family == family)
                add_attr(&req, RTA_PREFSRC, src->bytes, alen);

        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return fail(ret_error, errno, "netlink socket");
        struct timeval tv = { .tv_sec = 2 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        int r = 0;
        if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0) {
                r = fail(ret_error, errno, "netlink request");
                goto out;
        }
        /* The answer: an acknowledgement, or the kernel's error. */
        union {
                char buf[1024];
                struct nlmsghdr align;
        } reply;
        ssize_t n = recv(fd, reply.buf, sizeof reply.buf, 0);
        if (n < 0) {
                r = fail(ret_error, errno, "netlink answer");
                goto out;
        }
        for (struct nlmsghdr *h = &reply.align; NLMSG_OK(h, (size_t) n); h = NLMSG_NEXT(h, n)) {
                if (h->nlmsg_type != NLMSG_ERROR)
                        continue;
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (e->error != 0)
                        r = fail(ret_error, -e->error, add ? "adding the route" : "deleting the route");
                goto out;
        }
        r = fail(ret_error, EPROTO, "netlink answer");
out:
        close(fd);
        return r;
}

/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <linux/fib_rules.h>
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

/* Appends an attribute to the request at nh (size bytes in all, which
 * the callers' fixed attributes fit in). */
static void add_attr(struct nlmsghdr *nh, size_t size, unsigned short type, const void *data, size_t len) {
        g_assert(NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len) <= size);
        struct rtattr *a = (struct rtattr *) ((char *) nh + NLMSG_ALIGN(nh->nlmsg_len));
        a->rta_type = type;
        a->rta_len = (unsigned short) RTA_LENGTH(len);
        memcpy(RTA_DATA(a), data, len);
        nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static int fail(char **ret_error, int err, const char *what) {
        if (ret_error)
                *ret_error = g_strdup_printf("%s: %s", what, g_strerror(err));
        return -err;
}

/* Sends one request and reads the kernel's answer: 0, or a negative errno
 * (ignored, an error that means "already so": EEXIST, ENOENT). */
static int request(struct nlmsghdr *nh, int ignored, const char *what, char **ret_error) {
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return fail(ret_error, errno, "netlink socket");
        struct timeval tv = { .tv_sec = 2 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        int r = 0;
        if (sendto(fd, nh, nh->nlmsg_len, 0, (struct sockaddr *) &kernel, sizeof kernel) < 0) {
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
                if (e->error != 0 && -e->error != ignored)
                        r = fail(ret_error, -e->error, what);
                goto out;
        }
        r = fail(ret_error, EPROTO, "netlink answer");
out:
        close(fd);
        return r;
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
        /* Bulkhead's own table (route.h): a number above 255 goes in
         * RTA_TABLE. */
        req.rt.rtm_table = RT_TABLE_UNSPEC;
        req.rt.rtm_protocol = RTPROT_BOOT;      /* as `ip route` */
        req.rt.rtm_type = RTN_UNICAST;
        /* A route through a device without a gateway reaches its hosts
         * directly (`ip route` does the same for IPv4). */
        req.rt.rtm_scope = !add ? RT_SCOPE_NOWHERE : family == AF_INET ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
        add_attr(&req.nh, sizeof req, RTA_DST, prefix->addr.bytes, alen);
        uint32_t oif = ifindex, table = ROUTE_TABLE;
        add_attr(&req.nh, sizeof req, RTA_OIF, &oif, sizeof oif);
        add_attr(&req.nh, sizeof req, RTA_TABLE, &table, sizeof table);
        if (add && src && src->family == family)
                add_attr(&req.nh, sizeof req, RTA_PREFSRC, src->bytes, alen);
        return request(&req.nh, 0, add ? "adding the route" : "deleting the route", ret_error);
}

int route_rule_change(bool add, int family, char **ret_error) {
        struct {
                struct nlmsghdr nh;
                struct fib_rule_hdr fr;
                char attrs[64];
        } req = { 0 };
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof req.fr);
        req.nh.nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
        /* EXCL: rules may repeat, and a second copy would outlive the
         * first's deletion. */
        req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
        req.nh.nlmsg_seq = 1;
        req.fr.family = (unsigned char) family;
        req.fr.action = FR_ACT_TO_TBL;
        req.fr.table = RT_TABLE_UNSPEC;
        req.fr.flags = FIB_RULE_INVERT;        /* "not fwmark" */
        uint32_t mark = ROUTE_MARK, mask = UINT32_MAX, prio = ROUTE_RULE_PRIORITY, table = ROUTE_TABLE;
        add_attr(&req.nh, sizeof req, FRA_FWMARK, &mark, sizeof mark);
        add_attr(&req.nh, sizeof req, FRA_FWMASK, &mask, sizeof mask);
        add_attr(&req.nh, sizeof req, FRA_PRIORITY, &prio, sizeof prio);
        add_attr(&req.nh, sizeof req, FRA_TABLE, &table, sizeof table);
        return request(&req.nh, add ? EEXIST : ENOENT, add ? "adding the rule" : "deleting the rule", ret_error);
}

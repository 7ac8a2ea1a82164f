// SPDX-License-Identifier: GPL-2.0
/*
 * 802.1Q tagging for kernels built without CONFIG_VLAN_8021Q (cloudtales labs).
 *
 * Attached with tc clsact to a lab's uplink (a veth named bond0):
 *   egress  "tc/push_tenant"           tenant VLAN only: what vlan100@bond0 sends
 *   egress  "tc/push_tenant_on_outer"  tenant VLAN inside the outer VLAN: what
 *                                      vlan100@vlan20 sends (outer 20, inner 100)
 *   ingress "tc/check_pop"             the next hop's MTU, then untag
 *
 * A tag pushed by bpf_skb_vlan_push travels as skb metadata and no MTU check
 * counts it, so "tc/check_pop" plays the 1500-MTU port the frame arrives at:
 * a frame longer on the wire than HOP_MTU + 14 (Ethernet) + 4 (one tag) is
 * dropped, as a real switch port or NIC would drop it. The drops show in the
 * clsact qdisc's counter (`tc -s qdisc show dev bond0`).
 *
 * AF_PACKET taps (tcpdump) see a received frame before tc ingress runs, so a
 * capture on the receiving side still shows the oversize frame it then drops.
 *
 * Build: clang -O2 -g -target bpf -DTENANT_VID=100 -DOUTER_VID=20 -DHOP_MTU=1500
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#ifndef TENANT_VID
#define TENANT_VID 100
#endif
#ifndef OUTER_VID
#define OUTER_VID 20
#endif
#ifndef HOP_MTU
#define HOP_MTU 1500
#endif

#define VLAN_HLEN 4
#define MAX_TAGS 4

static __always_inline int push(struct __sk_buff *skb, __u16 vid)
{
	/* an earlier metadata tag moves into the payload: the new one is outer */
	return bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), vid);
}

SEC("tc/push_tenant")
int push_tenant(struct __sk_buff *skb)
{
	if (push(skb, TENANT_VID))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc/push_tenant_on_outer")
int push_tenant_on_outer(struct __sk_buff *skb)
{
	if (push(skb, TENANT_VID) || push(skb, OUTER_VID))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

static __always_inline int tagged(struct __sk_buff *skb)
{
	return skb->vlan_present || skb->protocol == bpf_htons(ETH_P_8021Q) ||
	       skb->protocol == bpf_htons(ETH_P_8021AD);
}

SEC("tc/check_pop")
int check_pop(struct __sk_buff *skb)
{
	/* at tc, skb->len covers the Ethernet header and any in-payload tags */
	__u32 wire = skb->len + (skb->vlan_present ? VLAN_HLEN : 0);

	if (wire > HOP_MTU + ETH_HLEN + VLAN_HLEN)
		return TC_ACT_SHOT;
	for (int i = 0; i < MAX_TAGS && tagged(skb); i++)
		if (bpf_skb_vlan_pop(skb))
			return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char _license[] SEC("license") = "GPL";

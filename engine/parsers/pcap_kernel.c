/* The hot loop of `cloudtales analyze`: walk classic pcap records or pcapng blocks in a
 * buffer and tally the frames that need no decoding beyond their link header and tags.
 *
 * Built by `python -m engine.parsers.pcap_kernel build` (run by .ci/setup) into
 * pcap_kernel.ctypes.so and loaded with ctypes. engine/parsers/pcap_scan.py has the
 * pure-Python fallback; both give identical findings (tests and bench compare them).
 *
 * A frame is *tallied* here when it is well formed, carries at most two VLAN tags and
 * is neither a possible BPDU (802.3 length / LLC) nor UDP over IPv4 (maybe DHCP).
 * Every other record, and the first few oversize/stacked frames (report examples), is
 * *handed over*: its offset goes to `out` and Python decodes it with the one decoder.
 * In pcapng, the walk stops at section headers and interface descriptions: Python
 * parses them and updates the interface table here before the walk goes on.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KERNEL_ABI 5
#define MAX_RECORD 0x40000u
#define STACK_SLOTS 65536u /* power of two */
#define STACK_FILL 49152u  /* beyond this, new stacks are handed over */
#define MAX_EXAMPLES 5u
#define MAX_IFACES 256u
#define TS_SUSPECT 8589934592.0 /* 2^33 s: beyond, Python judges the timestamp itself */

typedef struct {
    /* in */
    uint32_t limit;      /* largest frame the MTU allows (wire length) */
    uint32_t linktype;   /* 1 Ethernet, 113 SLL, 276 SLL2 */
    uint32_t big_endian; /* byte order of the record headers */
    uint32_t pad;
    /* out, accumulated over calls */
    uint64_t frames;
    uint64_t depth[3];
    uint64_t oversize;
    uint64_t double_over;
    uint64_t largest;
    uint32_t ex_double;
    uint32_t ex_other;
    uint32_t stacks_used;
    uint32_t dead; /* record header with an impossible length: nothing after it is trusted */
    uint64_t single[4096];          /* one tag: VID -> frames */
    uint32_t stack_key[STACK_SLOTS]; /* two tags: (outer << 12 | inner) + 1, 0 = free */
    uint64_t stack_count[STACK_SLOTS];
    uint32_t stack_used[STACK_FILL]; /* slots in use, in order of first sight */
    uint64_t lt_frames[3];           /* tallied frames on Ethernet, SLL, SLL2 */
    uint32_t n_ifaces;               /* pcapng interfaces of the current section */
    uint32_t iface_linktype[MAX_IFACES];
    double iface_units[MAX_IFACES];  /* timestamp units per second */
    double iface_offset[MAX_IFACES]; /* if_tsoffset, seconds */
} scan_state;

int pcap_kernel_abi(void) { return KERNEL_ABI; }

size_t pcap_kernel_state_size(void) { return sizeof(scan_state); }

static inline uint32_t rd32(const uint8_t *p, int big) {
    uint32_t v;
    memcpy(&v, p, 4);
    return big ? __builtin_bswap32(v) : v;
}

static inline uint32_t be16(const uint8_t *p) { return ((uint32_t)p[0] << 8) | p[1]; }

static inline int is_tpid(uint32_t t) { return t == 0x8100 || t == 0x88A8 || t == 0x9100; }

static int add_stack(scan_state *st, uint32_t key) {
    uint32_t k = key + 1, i = (key * 2654435761u) & (STACK_SLOTS - 1);
    for (;;) {
        uint32_t have = st->stack_key[i];
        if (have == k) {
            st->stack_count[i]++;
            return 1;
        }
        if (have == 0) {
            if (st->stacks_used >= STACK_FILL) return 0;
            st->stack_key[i] = k;
            st->stack_count[i] = 1;
            st->stack_used[st->stacks_used++] = i;
            return 1;
        }
        i = (i + 1) & (STACK_SLOTS - 1);
    }
}

/* 1 when tallied, 0 when Python must decode it, 2 when tallied and wanted as example */
static int tally(scan_state *st, const uint8_t *d, uint32_t cap, uint32_t orig, uint32_t lt) {
    uint32_t off, etype, wire, n = 0, vid0 = 0, vid1 = 0, lt_index;
    if (orig > MAX_RECORD || cap > orig) return 0;
    switch (lt) {
    case 1:
        if (cap < 14) return 0;
        etype = be16(d + 12), off = 14, wire = orig, lt_index = 0;
        break;
    case 113:
        if (cap < 16) return 0;
        etype = be16(d + 14), off = 16, wire = orig - 2, lt_index = 1;
        break;
    case 276:
        if (cap < 20) return 0;
        etype = be16(d), off = 20, wire = orig - 6, lt_index = 2;
        break;
    default:
        return 0;
    }
    while (is_tpid(etype)) {
        if (n == 2 || off + 4 > cap) return 0;
        uint32_t vid = be16(d + off) & 0xFFF;
        if (n == 0) vid0 = vid; else vid1 = vid;
        etype = be16(d + off + 2), off += 4, n++;
    }
    if (etype < 0x0600) return 0; /* 802.3 length: LLC, maybe a BPDU */
    if (etype == 0x0800 && off + 20 <= cap && d[off + 9] == 17) return 0; /* UDP: DHCP? */
    if (n == 2 && !add_stack(st, (vid0 << 12) | vid1)) return 0;
    if (n == 1) st->single[vid0]++;
    st->frames++;
    st->lt_frames[lt_index]++;
    st->depth[n]++;
    if (wire > st->largest) st->largest = wire;
    int example = 0;
    if (wire > st->limit) {
        st->oversize++;
        if (n == 2 && wire - 4 <= st->limit) st->double_over++;
    }
    if (wire > st->limit || n == 2) {
        int fits = n == 2 && wire > st->limit && wire - 4 <= st->limit;
        if (fits && st->ex_double < MAX_EXAMPLES) st->ex_double++, example = 1;
        else if (!fits && st->ex_other < MAX_EXAMPLES) st->ex_other++, example = 1;
    }
    return example ? 2 : 1;
}

/* Walk records from `pos` (a record boundary). Offsets of records to hand over go to
 * out[] as (offset << 1 | example); the walk stops when out[] is full, before an
 * incomplete record, or at an impossible record length (dead). Returns the position
 * reached; *n_out is how many entries were written. */
long pcap_kernel_scan(scan_state *st, const uint8_t *buf, long pos, long end, uint64_t *out,
                      long out_cap, long *n_out) {
    long n = 0;
    int big = (int)st->big_endian;
    while (pos + 16 <= end && n < out_cap) {
        const uint8_t *rec = buf + pos;
        uint32_t incl = rd32(rec + 8, big), orig = rd32(rec + 12, big);
        if (incl > MAX_RECORD) {
            st->dead = 1;
            break;
        }
        if (pos + 16 + (long)incl > end) break;
        int r = tally(st, rec + 16, incl, orig, st->linktype);
        if (r != 1) out[n++] = ((uint64_t)pos << 1) | (uint64_t)(r == 2);
        pos += 16 + (long)incl;
    }
    *n_out = n;
    return pos;
}

/* The same over pcapng blocks from `pos` (a block boundary). Enhanced packet blocks on
 * a known interface are tallied or handed over; other blocks are handed over, except
 * section headers and interface descriptions, where the walk stops for Python. */
long pcapng_kernel_scan(scan_state *st, const uint8_t *buf, long pos, long end, uint64_t *out,
                        long out_cap, long *n_out) {
    long n = 0;
    int big = (int)st->big_endian;
    while (pos + 12 <= end && n < out_cap) {
        const uint8_t *b = buf + pos;
        uint32_t kind = rd32(b, big), blen = rd32(b + 4, big);
        if (kind == 0x0A0D0D0Au || kind == 1u || blen < 12u || blen % 4u) break;
        if (pos + (long)blen > end) break;
        int r = 0;
        if (kind == 6u && blen >= 32u) {
            uint32_t idx = rd32(b + 8, big), incl = rd32(b + 20, big), orig = rd32(b + 24, big);
            if (idx < st->n_ifaces && 28u + (uint64_t)incl <= blen - 4u) {
                uint64_t ticks = ((uint64_t)rd32(b + 12, big) << 32) | rd32(b + 16, big);
                double ts = (double)ticks / st->iface_units[idx] + st->iface_offset[idx];
                if (ts > -TS_SUSPECT && ts < TS_SUSPECT)
                    r = tally(st, b + 28, incl, orig, st->iface_linktype[idx]);
            }
        }
        if (r != 1) out[n++] = ((uint64_t)pos << 1) | (uint64_t)(r == 2);
        pos += (long)blen;
    }
    *n_out = n;
    return pos;
}

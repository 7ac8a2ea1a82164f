"""conntrack-full: a router namespace whose conntrack table fills, so new flows die."""

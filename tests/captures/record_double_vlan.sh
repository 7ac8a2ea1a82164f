#!/bin/sh
# Records tests/captures/double-vlan-{outside,compute}.pcap from the real faulty
# "Double VLAN" lab: pings from outside to the instance (-s 1468 fits, -s 1472 does
# not); the compute's bond0 shows the tags the controller and the compute add.
# Run as root from the repository root:  flock /tmp/cloudtales-lab.lock sh tests/captures/record_double_vlan.sh
set -eu
out=tests/captures
ct=.venv/bin/cloudtales
log=$(mktemp -d)
$ct lab up double-vlan
ip netns exec ct-dv-outside tcpdump -U -n -s 0 -i eth0 -w "$out/double-vlan-outside.pcap" 2>"$log/o" &
o=$!
ip netns exec ct-dv-compute tcpdump -U -n -s 0 -i bond0 -w "$out/double-vlan-compute.pcap" 2>"$log/c" &
c=$!
until grep -q listening "$log/o" && grep -q listening "$log/c"; do sleep 0.1; done
ip netns exec ct-dv-outside ping -n -c 3 -i 0.2 -W 1 -M do -s 1468 10.0.100.5 || true
ip netns exec ct-dv-outside ping -n -c 3 -i 0.2 -W 1 -M do -s 1472 10.0.100.5 || true
kill -INT $o $c
wait $o $c || true
cat "$log/o" "$log/c"
rm -r "$log"
$ct lab down double-vlan

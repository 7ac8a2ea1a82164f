#!/bin/sh
# Records tests/captures/the-issue-{controller,instance}.pcap from the real faulty
# "The Issue" lab: dnsmasq's ACKs leave the controller's br100 and never reach the
# instance's eth0 (the stalled tap). DHCP only, so the files stay small.
# Run as root from the repository root:  flock /tmp/cloudtales-lab.lock sh tests/captures/record_the_issue.sh
set -eu
out=tests/captures
ct=.venv/bin/cloudtales
$ct lab up the-issue
filter='udp port 67 or udp port 68'
ip netns exec ct-ti-controller timeout -s INT 32 tcpdump -U -n -s 0 -i br100 -w "$out/the-issue-controller.pcap" "$filter" &
c=$!
ip netns exec ct-ti-instance timeout -s INT 32 tcpdump -U -n -s 0 -i eth0 -w "$out/the-issue-instance.pcap" "$filter" &
i=$!
wait $c || true
wait $i || true
$ct lab down the-issue

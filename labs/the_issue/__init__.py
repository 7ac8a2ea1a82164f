"""the-issue: real dnsmasq and dhclient behind the qemu bridge bug emulator (LP #997978)."""

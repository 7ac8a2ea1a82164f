"""valentines: the bond stand-in, the BPDU-guard switch emulator and the plan of the tale."""

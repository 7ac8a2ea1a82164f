"""disappearing-images: two computes sharing _base and the nova image cache emulator."""

"""The embedded AWS emulator (moto server, patched narrowly) and the offline Terraform runner."""
